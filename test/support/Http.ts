import { request } from "node:http"
import type { Readable } from "node:stream"
import * as Effect from "effect/Effect"
import * as HttpServer from "effect/http/HttpServer"

export interface RawAnswer {
  readonly status: number
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  readonly body: string
}

export interface RawRequest {
  readonly method: string
  readonly path: string
  readonly headers?: Readonly<Record<string, string>>
  /** Bytes as they go on the wire; a stream is sent chunked unless a content-length header says otherwise. */
  readonly body?: Uint8Array | string | Readable
}

/**
 * A request exactly as written — bytes, headers and path untouched by any
 * client library — and its answer. The server may answer before the body is
 * all sent and close the connection: what it answered is what counts.
 */
export const rawRequest = (port: number, options: RawRequest) =>
  Effect.callback<RawAnswer, Error>((resume) => {
    let answered = false
    const outgoing = request({
      host: "127.0.0.1",
      port,
      method: options.method,
      path: options.path,
      headers: options.headers
    })
    outgoing.once("response", (response) => {
      answered = true
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => (body += chunk))
      response.once("end", () =>
        resume(Effect.succeed({ status: response.statusCode ?? 0, headers: response.headers, body }))
      )
      response.once("error", (error) => resume(Effect.fail(error)))
    })
    // Writing the rest of a refused body fails once the server closed; the answer already came.
    outgoing.on("error", (error) => {
      if (!answered) resume(Effect.fail(error))
    })
    const body = options.body
    if (body === undefined || typeof body === "string" || body instanceof Uint8Array) outgoing.end(body)
    else body.on("error", () => outgoing.destroy()).pipe(outgoing)
  })

/** The port the server under test listens on. */
export const serverPort = Effect.gen(function* () {
  const { address } = yield* HttpServer.HttpServer
  return address._tag === "UnixPathAddress" ? 0 : address.port
})
