import { assert, layer } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Transacao } from "../../src/Crebitos/Domain.ts"
import { json, notJson, of, withField } from "../support/Arbitraries.ts"
import { CrebitosTest, ledgerState, postRaw } from "../support/Crebitos.ts"

const maxInt4 = 2_147_483_647
const runs = { arbitrary: { runs: 60 } }
const codePoints = (text: string) => [...text].length

const validPayload = Arbitrary.schema(Transacao)

/** Each class of invalid body the contract names, as JSON text. */
const invalidBodies = {
  "valor fractional": json(
    withField(
      validPayload,
      "valor",
      Arbitrary.filter(of(Schema.Finite), (n) => !Number.isInteger(n))
    )
  ),
  "valor zero": json(withField(validPayload, "valor", Arbitrary.Constant(0))),
  "valor negative": json(withField(validPayload, "valor", of(Schema.Int.check(Schema.isLessThan(0))))),
  "valor a string": json(withField(validPayload, "valor", of(Schema.String))),
  "valor null": json(withField(validPayload, "valor", Arbitrary.Constant(null))),
  "valor too large for the column": json(
    withField(validPayload, "valor", of(Schema.Finite.check(Schema.isGreaterThan(maxInt4))))
  ),
  "tipo other than c or d": json(
    withField(
      validPayload,
      "tipo",
      Arbitrary.filter(of(Schema.String), (tipo) => tipo !== "c" && tipo !== "d")
    )
  ),
  "descricao empty": json(withField(validPayload, "descricao", Arbitrary.Constant(""))),
  "descricao null": json(withField(validPayload, "descricao", Arbitrary.Constant(null))),
  "descricao not a string": json(
    withField(
      validPayload,
      "descricao",
      of(
        Schema.Union([Schema.Finite, Schema.Boolean, Schema.Array(Schema.String), Schema.Struct({ a: Schema.String })])
      )
    )
  ),
  "descricao longer than 10 characters": json(
    withField(
      validPayload,
      "descricao",
      Arbitrary.filter(of(Schema.String.check(Schema.isMinLength(11))), (text) => codePoints(text) > 10)
    )
  ),
  "descricao with a NUL character": json(withField(validPayload, "descricao", Arbitrary.Constant("a\u0000b"))),
  "fields missing": json(
    Arbitrary.flatMap(validPayload, (payload) =>
      Arbitrary.map(Arbitrary.array(of(Schema.Literals(["valor", "tipo", "descricao"])), { minLength: 1 }), (missing) =>
        Object.fromEntries(Object.entries(payload).filter(([key]) => !missing.includes(key as keyof Transacao)))
      )
    )
  ),
  "JSON that is not an object": json(
    of(Schema.Union([Schema.Finite, Schema.String, Schema.Boolean, Schema.Null, Schema.Array(Schema.Finite)]))
  ),
  "malformed JSON": notJson(of(Schema.String))
} as const

layer(CrebitosTest, { excludeTestServices: true })("validation, through the real HTTP server", (it) => {
  it.effect.prop(
    "every valid payload is accepted: 200 with the new balance, or 422 only for a debit past the limit",
    { id: of(Schema.Literals([1, 2, 3, 4, 5])), payload: Transacao },
    ({ id, payload }) =>
      Effect.gen(function* () {
        const before = (yield* ledgerState).find((c) => c.id === id)
        assert.isDefined(before)
        if (before === undefined) return
        const { body, status } = yield* postRaw(`/clientes/${id}/transacoes`, JSON.stringify(payload))
        const expected = before.saldo + (payload.tipo === "c" ? payload.valor : -payload.valor)
        const after = (yield* ledgerState).find((c) => c.id === id)
        if (expected >= -before.limite && expected <= maxInt4) {
          assert.strictEqual(status, 200, body)
          assert.deepStrictEqual(JSON.parse(body), { limite: before.limite, saldo: expected })
          assert.deepStrictEqual(after, { ...before, saldo: expected, transacoes: before.transacoes + 1 })
        } else {
          assert.strictEqual(status, 422, body)
          assert.deepStrictEqual(after, before)
        }
      }),
    runs
  )

  for (const [name, bodies] of Object.entries(invalidBodies)) {
    it.effect.prop(
      `${name}: 422 and nothing changes`,
      { body: bodies, id: of(Schema.Literals([1, 2, 3, 4, 5])) },
      ({ body, id }) =>
        Effect.gen(function* () {
          const before = yield* ledgerState
          const response = yield* postRaw(`/clientes/${id}/transacoes`, body)
          assert.strictEqual(response.status, 422, `${body} -> ${response.body}`)
          assert.deepStrictEqual(yield* ledgerState, before)
        }),
      runs
    )
  }

  it.effect("descricao counts characters as JSON Schema and PostgreSQL do: Unicode code points", () =>
    Effect.gen(function* () {
      const accepted = ["áááááááááá", "😀".repeat(10), "1234567890", "a\u0301".repeat(5)]
      for (const descricao of accepted) {
        const { body, status } = yield* postRaw(
          "/clientes/4/transacoes",
          JSON.stringify({ valor: 1, tipo: "c", descricao })
        )
        assert.strictEqual(status, 200, `${descricao}: ${body}`)
      }
      const before = yield* ledgerState
      for (const descricao of ["ááááááááááx", "😀".repeat(11), "a\u0301".repeat(6), "12345678901", "\ud800"]) {
        const { status } = yield* postRaw("/clientes/4/transacoes", JSON.stringify({ valor: 1, tipo: "c", descricao }))
        assert.strictEqual(status, 422, descricao)
      }
      assert.deepStrictEqual(yield* ledgerState, before)
    })
  )

  it.effect("an empty body and a body that is not JSON at all answer 422", () =>
    Effect.gen(function* () {
      for (const body of ["", "valor=1&tipo=c", '{"valor": 1,']) {
        assert.strictEqual((yield* postRaw("/clientes/1/transacoes", body)).status, 422, body)
      }
    })
  )
})
