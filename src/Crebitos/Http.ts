import * as Effect from "effect/Effect"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as Layer from "effect/Layer"
import { checkHealth } from "../Platform/Health.ts"
import { Api } from "./Api.ts"
import { Ledger } from "./Ledger.ts"

const ClientesLive = HttpApiBuilder.group(Api, "clientes", (handlers) =>
  Effect.gen(function* () {
    const ledger = yield* Ledger
    return handlers
      .handle("transacionar", ({ params, payload }) => ledger.transact(params.id, payload))
      .handle("extrato", ({ params }) => ledger.statement(params.id))
  })
)

const HealthLive = HttpApiBuilder.group(Api, "health", (handlers) => handlers.handle("healthz", () => checkHealth))

/** Every route of the Crébitos API, with its OpenAPI document and docs page. */
export const CrebitosHttp = Layer.mergeAll(ClientesLive, HealthLive)
