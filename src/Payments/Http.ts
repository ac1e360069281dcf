import * as Effect from "effect/Effect"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { checkHealth } from "../Platform/Health.ts"
import { Api } from "./Api.ts"
import { Dispatcher } from "./Dispatcher.ts"
import { Store } from "./Store.ts"

const PaymentsLive = HttpApiBuilder.group(Api, "payments", (handlers) =>
  Effect.gen(function* () {
    const dispatcher = yield* Dispatcher
    const store = yield* Store
    return handlers
      .handle("pay", ({ payload }) => dispatcher.accept(payload))
      .handle("summary", ({ query }) =>
        store.summary(Option.fromUndefinedOr(query.from), Option.fromUndefinedOr(query.to))
      )
      .handle("purge", () => store.purge().pipe(Effect.as({ message: "payments purged" })))
  })
)

const HealthLive = HttpApiBuilder.group(Api, "health", (handlers) => handlers.handle("healthz", () => checkHealth))

/** Every route of the Payments API, with its OpenAPI document and docs page. */
export const PaymentsHttp = Layer.mergeAll(PaymentsLive, HealthLive)
