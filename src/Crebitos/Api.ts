import * as HttpApi from "effect/http-api/HttpApi"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import { HealthGroup } from "../Platform/Health.ts"
import { RequestValidation, strict } from "../Platform/Validation.ts"
import { ClienteId, ClienteNaoEncontrado, Extrato, LimiteExcedido, SaldoAtual, Transacao } from "./Domain.ts"

const params = { id: ClienteId }

export const ClientesGroup = HttpApiGroup.make("clientes")
  .add(
    HttpApiEndpoint.post("transacionar", "/clientes/:id/transacoes", {
      params,
      payload: Transacao,
      success: SaldoAtual,
      error: [ClienteNaoEncontrado, LimiteExcedido]
    })
  )
  .add(
    HttpApiEndpoint.get("extrato", "/clientes/:id/extrato", {
      params,
      success: Extrato,
      error: ClienteNaoEncontrado
    })
  )

export const Api = strict(HttpApi.make("crebitos").add(ClientesGroup).add(HealthGroup).middleware(RequestValidation))
