import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiError from "effect/http-api/HttpApiError"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import { Readiness } from "./Warmup.ts"

/** `GET /healthz`: 200 once the process is warm and while the database answers, else 503. */
export const HealthGroup = HttpApiGroup.make("health").add(
  HttpApiEndpoint.get("healthz", "/healthz", {
    success: Schema.Struct({ status: Schema.Literal("ok") }),
    error: HttpApiError.ServiceUnavailable
  })
)

// Shorter than the contest's 2 s poll interval, so a stuck database reads as
// "not ready" instead of a hung probe.
const probeTimeout = Duration.seconds(1)

/** The health probe, for a service's `health` handler. */
export const checkHealth = Effect.gen(function* () {
  const { ready } = yield* Readiness
  if (!(yield* Ref.get(ready))) return yield* new HttpApiError.ServiceUnavailable()
  const sql = yield* SqlClient.SqlClient
  yield* sql`SELECT 1`.pipe(
    Effect.timeout(probeTimeout),
    Effect.mapError(() => new HttpApiError.ServiceUnavailable())
  )
  return { status: "ok" } as const
})
