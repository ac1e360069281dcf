import * as Effect from "effect/Effect"
import * as HttpApiError from "effect/http-api/HttpApiError"
import * as HttpApiMiddleware from "effect/http-api/HttpApiMiddleware"
import * as Schema from "effect/Schema"

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
