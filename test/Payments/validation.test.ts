import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import { CorrelationId } from "../../src/Payments/Domain.ts"
import { json, notJson, of, withField } from "../support/Arbitraries.ts"
import {
  type Environment,
  environment,
  eventually,
  type Instance,
  instance,
  postRaw,
  processorsSummary,
  summaryOf,
  totalRecorded
} from "../support/Payments.ts"

class Fixture extends Context.Service<
  Fixture,
  { readonly env: Environment; readonly service: Instance; readonly validPosted: Ref.Ref<number> }
>()("test/Payments/Fixture") {}

/** One service instance and its simulators for the whole file; every test adds to the same totals. */
const FixtureLive = Layer.effect(
  Fixture,
  Effect.gen(function* () {
    const env = yield* environment()
    return { env, service: yield* instance(env), validPosted: yield* Ref.make(0) }
  })
).pipe(Layer.provideMerge(FetchHttpClient.layer))

const runs = { arbitrary: { runs: 40 } }

/** Whole cents from 0.01 to the limit of 10,000,000.00. */
const cents = of(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1_000_000_000 })))
const validPayment = Arbitrary.map(cents, (amountCents) => ({ correlationId: randomUUID(), amount: amountCents / 100 }))

/** Each way a body can break the contract, as JSON text. */
const invalidBodies = {
  "correlationId not a UUID": json(
    withField(
      validPayment,
      "correlationId",
      Arbitrary.filter(of(Schema.String), (text) => !Schema.is(CorrelationId)(text))
    )
  ),
  "correlationId not a string": json(
    withField(validPayment, "correlationId", of(Schema.Union([Schema.Finite, Schema.Null])))
  ),
  "amount zero or negative": json(
    withField(validPayment, "amount", of(Schema.Finite.check(Schema.isLessThanOrEqualTo(0))))
  ),
  "amount with fractions of a cent": json(
    withField(
      validPayment,
      "amount",
      Arbitrary.map(cents, (amountCents) => amountCents / 100 + 0.001)
    )
  ),
  "amount above 10,000,000.00": json(
    withField(validPayment, "amount", of(Schema.Finite.check(Schema.isGreaterThan(10_000_000))))
  ),
  "amount a string": json(
    withField(
      validPayment,
      "amount",
      Arbitrary.map(cents, (amountCents) => String(amountCents / 100))
    )
  ),
  "amount null": json(withField(validPayment, "amount", Arbitrary.Constant(null))),
  "a field missing": json(
    Arbitrary.flatMap(validPayment, (payment) =>
      Arbitrary.map(of(Schema.Literals(["correlationId", "amount"])), (missing) =>
        Object.fromEntries(Object.entries(payment).filter(([key]) => key !== missing))
      )
    )
  ),
  "JSON that is not an object": json(of(Schema.Union([Schema.Finite, Schema.String, Schema.Null]))),
  "malformed JSON": notJson(of(Schema.String))
} as const

layer(FixtureLive, { excludeTestServices: true })("validation, through the real HTTP server", (it) => {
  it.effect.prop(
    "every valid payment is accepted at once (202) and recorded with its exact amount",
    { payment: validPayment },
    ({ payment }) =>
      Effect.gen(function* () {
        const { env, service, validPosted } = yield* Fixture
        const before = yield* summaryOf(service)
        assert.strictEqual(yield* postRaw(service.url, JSON.stringify(payment)), 202)
        yield* Ref.update(validPosted, (count) => count + 1)
        const after = yield* eventually(
          summaryOf(service),
          (summary) => totalRecorded(summary) === totalRecorded(before) + 1
        )
        assert.strictEqual(
          Math.round(after.default.totalAmount * 100),
          Math.round(before.default.totalAmount * 100) + Math.round(payment.amount * 100)
        )
        assert.deepStrictEqual(after, yield* processorsSummary(env))
      }),
    runs
  )

  for (const [name, bodies] of Object.entries(invalidBodies)) {
    it.effect.prop(
      `${name}: 422 and nothing is dispatched`,
      { body: bodies },
      ({ body }) =>
        Effect.gen(function* () {
          const { env, service } = yield* Fixture
          const before = yield* processorsSummary(env)
          assert.strictEqual(yield* postRaw(service.url, body), 422, body)
          assert.deepStrictEqual(yield* summaryOf(service), before)
        }),
      runs
    )
  }

  it.effect("after all of the above, only the valid payments were recorded, as the processors hold them", () =>
    Effect.gen(function* () {
      const { env, service, validPosted } = yield* Fixture
      yield* Effect.sleep("200 millis")
      const recorded = yield* summaryOf(service)
      assert.strictEqual(totalRecorded(recorded), yield* Ref.get(validPosted))
      assert.deepStrictEqual(recorded, yield* processorsSummary(env))
    })
  )
})
