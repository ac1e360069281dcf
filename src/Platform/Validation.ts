import * as Effect from "effect/Effect"
import * as HttpApi from "effect/http-api/HttpApi"
import * as HttpApiError from "effect/http-api/HttpApiError"
import type * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import * as HttpApiMiddleware from "effect/http-api/HttpApiMiddleware"
import * as OpenApi from "effect/http-api/OpenApi"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"

/** Any request the API cannot accept as written: 422 with what was wrong. */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()(
  "InvalidRequest",
  { message: Schema.String },
  { httpApiStatus: 422 }
) {}

/**
 * Maps every request-decoding failure of an API in one place. A path id that
 * does not decode names nothing that could exist, so it is 404 like an unknown
 * id; everything else the client sent wrong (payload, malformed JSON, query,
 * headers) is 422.
 */
export class RequestValidation extends HttpApiMiddleware.Service<RequestValidation>()("Platform/RequestValidation", {
  error: [InvalidRequest, HttpApiError.NotFound]
}) {}

export const RequestValidationLive = HttpApiMiddleware.layerSchemaErrorTransform(RequestValidation, (error) =>
  error.kind === "Params"
    ? Effect.fail(new HttpApiError.NotFound())
    : Effect.fail(new InvalidRequest({ message: error.cause.message }))
)

/** Largest value of a PostgreSQL `integer`, the type of every id and amount it stores. */
export const maxInt4 = 2_147_483_647

/** A positive id in plain decimal, as a path segment: no sign, no leading zero, no exponent, no spaces. */
const plainDecimalPattern = "^[1-9][0-9]{0,9}$"
const plainDecimal = new RegExp(plainDecimalPattern)

/**
 * A positive 32-bit id from a path segment, in plain decimal only: `0x1`,
 * `1e0`, `1.0`, `01` or ` 1` name nothing (404), where a lenient number parse
 * would have found id 1. Documented as an integer (see `strict`).
 */
export const PathId = Schema.String.check(
  Schema.makeFilter<string>(
    (text) => (plainDecimal.test(text) && Number(text) <= maxInt4) || "must be a positive integer in plain decimal",
    { toJsonSchema: () => ({ pattern: plainDecimalPattern }) }
  )
).pipe(Schema.decodeTo(Schema.Int, SchemaTransformation.numberFromString))

/** RFC 3339's date-time (what JSON Schema's `format: date-time` means), seconds 00–59. */
const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/

/** Written as RFC 3339 says, on a day that exists: `Date.parse` alone takes `2020` or turns 31 February into 2 March. */
const isRfc3339 = (text: string) => {
  const match = rfc3339.exec(text)
  if (match === null) return false
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])]
  const date = new Date(Date.UTC(year, month - 1, day))
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day
}

/**
 * An instant on the wire, for every API: an RFC 3339 date-time, documented
 * as `format: date-time` so the OpenAPI document says which strings are
 * taken; decoded to a `DateTime.Utc`.
 */
export const Instant = Schema.String.check(
  Schema.makeFilter<string>((text) => isRfc3339(text) || "must be an RFC 3339 date-time", {
    toJsonSchema: () => ({ format: "date-time" })
  })
).pipe(Schema.decodeTo(Schema.DateTimeUtc, SchemaTransformation.dateTimeUtcFromString))

/** The one `type: integer` schema a plain-decimal path id is, in the OpenAPI document. */
const integerId = { type: "integer", minimum: 1, maximum: maxInt4 }

const limitResponses = {
  "413": { description: "The body is larger than MAX_BODY_BYTES (a few KB); refused before it is read." },
  "415": { description: "The body is not `application/json` in UTF-8, or it is compressed." }
}
const unavailableResponse = {
  "503": { description: "The service cannot answer right now (its database is unreachable or it is stopping)." }
}

type Json = Record<string, unknown>
const isJson = (value: unknown): value is Json => typeof value === "object" && value !== null

/**
 * What the server does outside the HttpApi, written into its OpenAPI
 * document: 413 and 415 on every operation with a body (src/Platform/RequestBody.ts),
 * 503 on every operation, and path ids as the integers they are.
 */
const documentPlatform = (spec: Json): Json => {
  const paths = isJson(spec.paths) ? spec.paths : {}
  for (const item of Object.values(paths)) {
    if (!isJson(item)) continue
    for (const operation of Object.values(item)) {
      if (!isJson(operation) || !isJson(operation.responses)) continue
      if (operation.requestBody !== undefined) Object.assign(operation.responses, limitResponses)
      Object.assign(operation.responses, unavailableResponse)
      for (const parameter of Array.isArray(operation.parameters) ? operation.parameters : []) {
        if (isJson(parameter) && isJson(parameter.schema) && parameter.schema.pattern === plainDecimalPattern) {
          parameter.schema = integerId
        }
      }
    }
  }
  return spec
}

/**
 * Strict decoding for every endpoint of an API, and a document that says
 * what the server does: a body with a key the contract does not name is
 * refused — `additionalProperties: false` in the document is then the truth —
 * and the platform's own answers (413, 415, 503) are listed.
 */
export const strict = <Id extends string, Groups extends HttpApiGroup.Constraint>(api: HttpApi.HttpApi<Id, Groups>) =>
  api.annotate(HttpApi.PayloadParseOptions, { onExcessProperty: "error" }).annotate(OpenApi.Transform, documentPlatform)
