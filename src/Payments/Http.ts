import * as Effect from "effect/Effect"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as Option from "effect/Option"
import type { WarmupRequest } from "../Platform/Warmup.ts"
import { Api } from "./Api.ts"
import { Intake } from "./Intake.ts"
import { Ledger } from "./Ledger.ts"

export const PaymentsLive = HttpApiBuilder.group(Api, "payments", (handlers) =>
  Effect.gen(function* () {
    const intake = yield* Intake
    const ledger = yield* Ledger
    return handlers
      .handle("pay", ({ payload }) => intake.accept(payload))
      .handle("summary", ({ query }) =>
        ledger.summary(Option.fromUndefinedOr(query.from), Option.fromUndefinedOr(query.to))
      )
      .handle("purge", () => ledger.purge().pipe(Effect.as({ message: "payments purged" })))
  })
)

/**
 * Warm-up traffic that changes nothing: summaries, and payments refused by
 * validation (a valid one would be dispatched for real).
 */
export const warmupRequests: ReadonlyArray<WarmupRequest> = [
  { method: "GET", path: "/payments-summary" },
  {
    method: "GET",
    path: "/payments-summary?from=2000-01-01T00:00:00.000Z&to=2000-01-01T00:00:01.000Z"
  },
  { method: "POST", path: "/payments", body: JSON.stringify({ correlationId: "warm-up", amount: 19.9 }) },
  {
    method: "POST",
    path: "/payments",
    body: JSON.stringify({ correlationId: "4a7901b8-7d26-4d9d-aa19-4dc1c7cf60b3", amount: 0 })
  }
]
