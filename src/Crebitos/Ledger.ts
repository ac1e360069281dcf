import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import { Instruments, makeSpanWhenTraced, seriesOf } from "../Platform/Observability.ts"
import { makeDatabaseEdge, makeSeedCheck } from "../Platform/Sql.ts"
import {
  type ClienteId,
  ClienteNaoEncontrado,
  type Extrato,
  LimiteExcedido,
  type SaldoAtual,
  type Tipo,
  type Transacao,
  TransacaoRealizada
} from "./Domain.ts"

const results = ["ok", "limite_excedido", "cliente_inexistente"] as const

type Result = (typeof results)[number]

const transactions = seriesOf((labels: { readonly tipo: Tipo; readonly result: Result }) =>
  Metric.counter("crebitos_transactions_total", {
    description: "Transactions the ledger answered, by type (c, d) and the procedure's result",
    attributes: labels,
    incremental: true
  })
)

const Registro = Schema.Union([
  Schema.Struct({ resultado: Schema.Literal("ok"), saldo: Schema.Int, limite: Schema.Int }),
  Schema.Struct({ resultado: Schema.Literals(["cliente_inexistente", "limite_excedido"]) })
])

const LinhaExtrato = Schema.Struct({
  total: Schema.Int,
  limite: Schema.Int,
  data_extrato: Schema.String,
  ultimas_transacoes: Schema.Array(TransacaoRealizada)
})

/** The clients' accounts: every operation is one call to a stored procedure. */
export class Ledger extends Context.Service<Ledger>()("Crebitos/Ledger", {
  make: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const edge = yield* makeDatabaseEdge
    const notFoundUnlessSeedMissing = yield* makeSeedCheck

    const decodeRegistro = Schema.decodeUnknownEffect(Registro)
    const decodeExtrato = Schema.decodeUnknownEffect(LinhaExtrato)

    // Not Effect.fn: these run once per request.
    const spanned = yield* makeSpanWhenTraced

    // With metrics exported, every answer of the procedure is counted by
    // type and result, in place: a wrapper per call would cost more than the count.
    const { exported } = yield* Instruments
    const context = yield* Effect.context<never>()
    if (exported) {
      // Every series from the start, at 0: a refusal that never happened still shows, as none.
      for (const tipo of ["c", "d"] as const) {
        for (const result of results) transactions({ tipo, result }).updateUnsafe(0, context)
      }
    }

    const transact = Effect.fnUntraced(
      function* (id: ClienteId, transacao: Transacao) {
        const [linha] =
          yield* sql`SELECT * FROM registrar_transacao(${id}, ${transacao.valor}, ${transacao.tipo}, ${transacao.descricao})`
        const registro = yield* decodeRegistro(linha)
        if (exported) transactions({ tipo: transacao.tipo, result: registro.resultado }).updateUnsafe(1, context)
        switch (registro.resultado) {
          case "ok":
            return { limite: registro.limite, saldo: registro.saldo } satisfies SaldoAtual
          case "limite_excedido":
            return yield* new LimiteExcedido({ id })
          case "cliente_inexistente":
            return yield* notFoundUnlessSeedMissing(new ClienteNaoEncontrado({ id }))
        }
      },
      edge,
      spanned("Ledger.transact")
    )

    const statement = Effect.fnUntraced(
      function* (id: ClienteId) {
        const [linha] = yield* sql`SELECT * FROM extrato(${id})`
        if (linha === undefined) return yield* notFoundUnlessSeedMissing(new ClienteNaoEncontrado({ id }))
        const { data_extrato, limite, total, ultimas_transacoes } = yield* decodeExtrato(linha)
        return { saldo: { total, data_extrato, limite }, ultimas_transacoes } satisfies Extrato
      },
      edge,
      spanned("Ledger.statement")
    )

    return { transact, statement } as const
  })
}) {
  static readonly layer = Layer.effect(this, this.make)
}
