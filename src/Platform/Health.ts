import * as Effect from "effect/Effect"
import * as HttpApi from "effect/http-api/HttpApi"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiError from "effect/http-api/HttpApiError"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import { DatabaseSchema } from "./Sql.ts"
import { Readiness } from "./Warmup.ts"

/**
 * `GET /healthz`: 200 once the process is warm and while the database can
 * serve the contract (reachable, with the service's schema and seed), else 503.
 */
export const HealthGroup = HttpApiGroup.make("health").add(
  HttpApiEndpoint.get("healthz", "/healthz", {
    success: Schema.Struct({ status: Schema.Literal("ok") }),
    error: HttpApiError.ServiceUnavailable
  })
)

const checkHealth = Effect.gen(function* () {
  const { ready } = yield* Readiness
  const schema = yield* DatabaseSchema
  if (!(yield* Ref.get(ready)) || (yield* schema.state) !== "ready") {
    return yield* new HttpApiError.ServiceUnavailable()
  }
  return { status: "ok" } as const
})

/**
 * The health handler of the API named `id`, which adds `HealthGroup`: built
 * on an API of that group alone, as handlers are found by group name.
 */
export const HealthLive = <Id extends string>(id: Id) =>
  HttpApiBuilder.group(HttpApi.make(id).add(HealthGroup), "health", (handlers) =>
    handlers.handle("healthz", () => checkHealth)
  )
