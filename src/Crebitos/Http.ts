import * as Effect from "effect/Effect"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import type { WarmupRequest } from "../Platform/Warmup.ts"
import { Api } from "./Api.ts"
import { Ledger } from "./Ledger.ts"

/** The routes of the contract: each one call to the ledger. */
export const ClientesLive = HttpApiBuilder.group(Api, "clientes", (handlers) =>
  Effect.gen(function* () {
    const ledger = yield* Ledger
    return handlers
      .handle("transacionar", ({ params, payload }) => ledger.transact(params.id, payload))
      .handle("extrato", ({ params }) => ledger.statement(params.id))
  })
)

const payload = (valor: number, tipo: string, descricao: string) => JSON.stringify({ valor, tipo, descricao })

/**
 * Warm-up traffic that changes nothing: statements, transactions for the
 * client that does not exist (the procedure runs, finds no row), and invalid
 * payloads.
 */
export const warmupRequests: ReadonlyArray<WarmupRequest> = [
  ...[1, 2, 3, 4, 5].map((id) => ({ method: "GET", path: `/clientes/${id}/extrato` }) as const),
  { method: "POST", path: "/clientes/6/transacoes", body: payload(100, "d", "aquecendo") },
  { method: "POST", path: "/clientes/6/transacoes", body: payload(100, "c", "aquecendo") },
  { method: "POST", path: "/clientes/1/transacoes", body: payload(1.5, "d", "aquecendo") },
  { method: "POST", path: "/clientes/1/transacoes", body: payload(1, "x", "") },
  { method: "GET", path: "/clientes/6/extrato" }
]
