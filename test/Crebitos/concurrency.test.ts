import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import { CrebitosTest, client, decodeExtrato, extrato, ledgerState, postRaw } from "../support/Crebitos.ts"

const randomInt = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1))

layer(CrebitosTest, { excludeTestServices: true })("concurrency", (it) => {
  it.effect("25 simultaneous debits of 1 give exactly -25, each seeing a distinct balance", () =>
    Effect.gen(function* () {
      const api = yield* client
      const answers = yield* Effect.all(
        Array.from({ length: 25 }, () =>
          api.clientes.transacionar({ params: { id: 1 }, payload: { valor: 1, tipo: "d", descricao: "d" } })
        ),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(
        answers.map((a) => a.saldo).sort((a, b) => a - b),
        Array.from({ length: 25 }, (_, i) => -25 + i)
      )
      assert.strictEqual(decodeExtrato((yield* extrato(1)).body).saldo.total, -25)
    })
  )

  it.effect("hundreds of random concurrent transactions keep every balance exact and within its limit", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const before = yield* ledgerState
      const requests = Array.from({ length: 400 }, () => {
        const id = randomInt(1, 5)
        const tipo = Math.random() < 0.6 ? "d" : "c"
        // Large debits on the small limits make many of them refused.
        const valor = randomInt(1, id === 2 ? 60_000 : 20_000)
        return { id, tipo, valor }
      })
      const answers = yield* Effect.forEach(
        requests,
        (request) =>
          postRaw(
            `/clientes/${request.id}/transacoes`,
            JSON.stringify({ valor: request.valor, tipo: request.tipo, descricao: "aleatoria" })
          ).pipe(Effect.map((answer) => ({ ...request, ...answer }))),
        { concurrency: "unbounded" }
      )
      const after = yield* ledgerState
      for (const cliente of after) {
        const mine = answers.filter((a) => a.id === cliente.id)
        let expected = before.find((c) => c.id === cliente.id)?.saldo ?? Number.NaN
        for (const answer of mine) {
          if (answer.tipo === "c") assert.strictEqual(answer.status, 200, answer.body)
          else assert.include([200, 422], answer.status, answer.body)
          if (answer.status === 200) {
            const { saldo } = JSON.parse(answer.body) as { saldo: number }
            assert.isAtLeast(saldo, -cliente.limite)
            expected += answer.tipo === "c" ? answer.valor : -answer.valor
          }
        }
        assert.strictEqual(cliente.saldo, expected, `client ${cliente.id}`)
        assert.isAtLeast(cliente.saldo, -cliente.limite)
      }
      // And the balance is exactly what the recorded transactions add up to.
      const audit = yield* sql<{ id: number; saldo: number; soma: number }>`
        SELECT c.id, c.saldo,
               COALESCE(sum(CASE t.tipo WHEN 'c' THEN t.valor ELSE -t.valor END), 0)::int AS soma
          FROM clientes c LEFT JOIN transacoes t ON t.cliente_id = c.id
         GROUP BY c.id ORDER BY c.id`
      for (const row of audit) assert.strictEqual(row.saldo, row.soma, `client ${row.id}`)
      assert.isAbove(answers.filter((a) => a.status === 422).length, 0, "some debits were refused")
    })
  )

  it.effect("right after a 200, concurrent statements show that transaction first with the returned balance", () =>
    Effect.gen(function* () {
      const api = yield* client
      // Other clients keep the database busy meanwhile.
      const noise = Effect.forEach(
        Array.from({ length: 200 }, (_, i) => i),
        (i) =>
          postRaw(
            `/clientes/${(i % 4) + 1}/transacoes`,
            JSON.stringify({ valor: randomInt(1, 100), tipo: i % 2 === 0 ? "c" : "d", descricao: "ruido" })
          ),
        { concurrency: 20, discard: true }
      )
      const checks = Effect.forEach(
        Array.from({ length: 30 }, (_, i) => i),
        (i) =>
          Effect.gen(function* () {
            const descricao = `n${i}`
            const { saldo } = yield* api.clientes.transacionar({
              params: { id: 5 },
              payload: { valor: randomInt(1, 1000), tipo: i % 3 === 0 ? "d" : "c", descricao }
            })
            const leituras = yield* Effect.all(
              Array.from({ length: 4 }, () => api.clientes.extrato({ params: { id: 5 } })),
              { concurrency: "unbounded" }
            )
            for (const leitura of leituras) {
              assert.strictEqual(leitura.ultimas_transacoes[0]?.descricao, descricao)
              assert.strictEqual(leitura.saldo.total, saldo)
            }
          }),
        { discard: true }
      )
      yield* Effect.all([noise, checks], { concurrency: "unbounded", discard: true })
    })
  )
})
