import { isUtf8 } from "node:buffer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpMethod from "effect/http/HttpMethod"
import * as HttpMiddleware from "effect/http/HttpMiddleware"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Schema from "effect/Schema"
import { InvalidRequest } from "./Validation.ts"

const unsupportedMediaType = HttpServerResponse.empty({ status: 415 })
// The rest of an oversized body is never read: the connection goes with it.
const payloadTooLarge = HttpServerResponse.empty({ status: 413, headers: { connection: "close" } })
/**
 * What a body that is not valid UTF-8 is answered: the API's own answer to
 * any request it cannot decode, so that its document's answer holds for
 * this one too — 422 `InvalidRequest` by default, the same schema as any
 * other invalid request; the simulator's bare 400 (422 means "already held"
 * to its clients).
 */
export const NotUtf8Response = Context.Reference<HttpServerResponse.HttpServerResponse>("Platform/NotUtf8Response", {
  defaultValue: () =>
    HttpServerResponse.jsonUnsafe(
      Schema.encodeSync(InvalidRequest)(new InvalidRequest({ message: "the body is not valid UTF-8" })),
      { status: 422 }
    )
})

/** `application/json`, with no charset or UTF-8 (RFC 8259: JSON exchanged between systems is UTF-8). */
const isJson = (contentType: string | undefined) => {
  if (contentType === undefined) return false
  const [mediaType = "", ...parameters] = contentType.toLowerCase().split(";")
  return (
    mediaType.trim() === "application/json" &&
    parameters.every((parameter) => {
      const [name = "", value = ""] = parameter.split("=").map((part) => part.trim())
      return name !== "charset" || value.replace(/"/g, "") === "utf-8"
    })
  )
}

/**
 * Every request body, for every route, before any handler: it must be
 * uncompressed JSON (else 415), at most `maxBytes` long — refused with 413
 * from its Content-Length before a byte is read, or as soon as a chunked body
 * passes the limit, so no client can make a process hold more than
 * `maxBytes` of body — and valid UTF-8 (else 422; decoding it would silently
 * turn invalid bytes into U+FFFD and store them). The body it read stays
 * cached on the request for the handler.
 */
export const guardRequestBody = (maxBytes: number, notUtf8: HttpServerResponse.HttpServerResponse) =>
  HttpMiddleware.make((app) =>
    Effect.withFiber((fiber) => {
      const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
      const { headers } = request
      const length = headers["content-length"]
      const hasBody =
        HttpMethod.hasBody(request.method) &&
        (headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0"))
      if (!hasBody) return app
      const encoding = headers["content-encoding"]
      if ((encoding !== undefined && encoding.toLowerCase() !== "identity") || !isJson(headers["content-type"])) {
        return Effect.succeed(unsupportedMediaType)
      }
      if (Number(length) > maxBytes) return Effect.succeed(payloadTooLarge)
      // Past MaxBodySize (set to maxBytes by the server) the read fails with a
      // respondable error that answers 413 itself.
      return Effect.flatMap(request.arrayBuffer, (body) =>
        isUtf8(new Uint8Array(body)) ? app : Effect.succeed(notUtf8)
      )
    })
  )
