import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { invalidPayloads, limites } from "../../k6/lib/crebitos.ts"
import { CrebitosTest, client, decodeExtrato, extrato, postRaw } from "../support/Crebitos.ts"

const isoUtc = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/

layer(CrebitosTest, { excludeTestServices: true })("the contest's validation sequence", (it) => {
  it.effect("step 1: 25 simultaneous debits of 1 give -25, 25 credits bring it back to 0", () =>
    Effect.gen(function* () {
      const api = yield* client
      const many = (tipo: "c" | "d") =>
        Effect.all(
          Array.from({ length: 25 }, () =>
            api.clientes.transacionar({ params: { id: 1 }, payload: { valor: 1, tipo, descricao: "danada" } })
          ),
          { concurrency: "unbounded" }
        )
      yield* many("d")
      assert.strictEqual(decodeExtrato((yield* extrato(1)).body).saldo.total, -25)
      yield* many("c")
      assert.strictEqual(decodeExtrato((yield* extrato(1)).body).saldo.total, 0)
    })
  )

  it.effect("step 2: every client, at once", () =>
    Effect.forEach(
      [1, 2, 3, 4, 5] as const,
      (id) =>
        Effect.gen(function* () {
          const api = yield* client
          const inicial = yield* api.clientes.extrato({ params: { id } })
          assert.strictEqual(inicial.saldo.limite, limites[id])
          assert.strictEqual(inicial.saldo.total, 0)

          yield* api.clientes.transacionar({ params: { id }, payload: { valor: 1, tipo: "c", descricao: "toma" } })
          yield* api.clientes.transacionar({ params: { id }, payload: { valor: 1, tipo: "d", descricao: "devolve" } })
          const depois = yield* api.clientes.extrato({ params: { id } })
          assert.deepStrictEqual(
            depois.ultimas_transacoes.slice(0, 2).map((t) => t.descricao),
            ["devolve", "toma"]
          )

          const { saldo } = yield* api.clientes.transacionar({
            params: { id },
            payload: { valor: 1, tipo: "c", descricao: "danada" }
          })
          const leituras = yield* Effect.all(
            Array.from({ length: 4 }, () => api.clientes.extrato({ params: { id } })),
            { concurrency: "unbounded" }
          )
          for (const leitura of leituras) {
            assert.strictEqual(leitura.ultimas_transacoes[0]?.descricao, "danada")
            assert.strictEqual(leitura.saldo.total, saldo)
          }

          for (const payload of invalidPayloads) {
            const { status } = yield* postRaw(`/clientes/${id}/transacoes`, JSON.stringify(payload))
            assert.include([400, 422], status, JSON.stringify(payload))
          }
        }),
      { concurrency: "unbounded", discard: true }
    )
  )

  it.effect("client 6 does not exist", () =>
    Effect.gen(function* () {
      assert.strictEqual((yield* extrato(6)).status, 404)
      const { status } = yield* postRaw(
        "/clientes/6/transacoes",
        JSON.stringify({ valor: 1, tipo: "c", descricao: "x" })
      )
      assert.strictEqual(status, 404)
    })
  )

  it.effect("malformed and out-of-range ids answer 404", () =>
    Effect.gen(function* () {
      for (const id of ["abc", "0", "-1", "1.5", "2147483648", "99999999999999999999"]) {
        assert.strictEqual((yield* extrato(id as unknown as number)).status, 404, id)
      }
    })
  )

  it.effect("statement shape: exact keys, at most 10 newest first, ISO UTC timestamps", () =>
    Effect.gen(function* () {
      const api = yield* client
      for (let n = 1; n <= 12; n++) {
        yield* api.clientes.transacionar({ params: { id: 3 }, payload: { valor: n, tipo: "c", descricao: `t${n}` } })
      }
      const { body, status } = yield* extrato(3)
      assert.strictEqual(status, 200)
      const record = body as Record<string, Record<string, unknown> & ReadonlyArray<Record<string, unknown>>>
      assert.deepStrictEqual(Object.keys(record).sort(), ["saldo", "ultimas_transacoes"])
      assert.deepStrictEqual(Object.keys(record.saldo ?? {}).sort(), ["data_extrato", "limite", "total"])
      const lista = decodeExtrato(body).ultimas_transacoes
      assert.deepStrictEqual(
        lista.map((t) => t.descricao),
        ["t12", "t11", "t10", "t9", "t8", "t7", "t6", "t5", "t4", "t3"]
      )
      for (const [i, t] of lista.entries()) {
        assert.deepStrictEqual(Object.keys(record.ultimas_transacoes?.[i] ?? {}).sort(), [
          "descricao",
          "realizada_em",
          "tipo",
          "valor"
        ])
        assert.match(t.realizada_em, isoUtc)
      }
      assert.match(decodeExtrato(body).saldo.data_extrato, isoUtc)
      const instantes = lista.map((t) => Date.parse(t.realizada_em))
      assert.deepStrictEqual(
        instantes,
        [...instantes].sort((a, b) => b - a)
      )
    })
  )

  it.effect("a debit past the limit answers 422 and records nothing", () =>
    Effect.gen(function* () {
      const api = yield* client
      const antes = yield* api.clientes.extrato({ params: { id: 2 } })
      const { status } = yield* postRaw(
        "/clientes/2/transacoes",
        JSON.stringify({ valor: antes.saldo.total + antes.saldo.limite + 1, tipo: "d", descricao: "demais" })
      )
      assert.strictEqual(status, 422)
      const depois = yield* api.clientes.extrato({ params: { id: 2 } })
      assert.strictEqual(depois.saldo.total, antes.saldo.total)
      assert.deepStrictEqual(depois.ultimas_transacoes, antes.ultimas_transacoes)
      // Exactly down to -limite is allowed.
      const exato = yield* api.clientes.transacionar({
        params: { id: 2 },
        payload: { valor: antes.saldo.total + antes.saldo.limite, tipo: "d", descricao: "tudo" }
      })
      assert.strictEqual(exato.saldo, -antes.saldo.limite)
    })
  )
})
