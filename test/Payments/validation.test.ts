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
  newPayment,
  pay,
  postRaw,
  processorsSummary,
  recordingProxy,
  summaryOf,
  totalRecorded
} from "../support/Payments.ts"

/** What the processors are sent: we only need whose payment it was. */
const SentPayment = Schema.Struct({ correlationId: Schema.String })

class Fixture extends Context.Service<
  Fixture,
  {
    readonly env: Environment
    readonly service: Instance
    /** The body of every payment request each processor received. */
    readonly dispatched: { readonly default: ReadonlyArray<string>; readonly fallback: ReadonlyArray<string> }
    /** The correlationIds of the valid payments posted so far. */
    readonly validPosted: Ref.Ref<ReadonlyArray<string>>
  }
>()("test/Payments/Fixture") {}

/**
 * One service instance and its simulators for the whole file, every test
 * adding to the same totals; the processors behind proxies that keep what
 * was dispatched to them.
 */
const FixtureLive = Layer.effect(
  Fixture,
  Effect.gen(function* () {
    const env = yield* environment()
    const [toDefault, toFallback] = yield* Effect.all([
      recordingProxy(env.processorDefault),
      recordingProxy(env.processorFallback)
    ])
    const service = yield* instance(env, {
      PROCESSOR_DEFAULT_URL: toDefault.url,
      PROCESSOR_FALLBACK_URL: toFallback.url
    })
    const dispatched = { default: toDefault.payments, fallback: toFallback.payments }
    return { env, service, dispatched, validPosted: yield* Ref.make<ReadonlyArray<string>>([]) }
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
        yield* Ref.update(validPosted, (posted) => [...posted, payment.correlationId])
        const after = yield* eventually(
          summaryOf(service),
          (summary) => totalRecorded(summary) === totalRecorded(before) + 1
        )
        assert.strictEqual(after.default.totalAmount, before.default.totalAmount + Math.round(payment.amount * 100))
        assert.deepStrictEqual(after, yield* processorsSummary(env))
      }),
    runs
  )

  for (const [name, bodies] of Object.entries(invalidBodies)) {
    it.effect.prop(
      `${name}: 422`,
      { body: bodies },
      ({ body }) =>
        Effect.gen(function* () {
          const { service } = yield* Fixture
          assert.strictEqual(yield* postRaw(service.url, body), 422, body)
        }),
      runs
    )
  }

  it.effect(
    "nothing answered 422 was dispatched: once a later payment is recorded, the processors got only the valid",
    () =>
      Effect.gen(function* () {
        const { dispatched, env, service, validPosted } = yield* Fixture
        // Accepted after every refused body: once it is recorded, the dispatcher
        // has taken everything accepted before it from its queue and sent it.
        const last = newPayment()
        yield* pay(service, last)
        const valid = [...(yield* Ref.get(validPosted)), last.correlationId]
        const recorded = yield* eventually(summaryOf(service), (summary) => totalRecorded(summary) === valid.length)
        assert.strictEqual(totalRecorded(recorded), valid.length)
        assert.deepStrictEqual(recorded, yield* processorsSummary(env))
        const sent = [...dispatched.default, ...dispatched.fallback].map(
          (body) => Schema.decodeUnknownSync(SentPayment)(JSON.parse(body)).correlationId
        )
        assert.deepStrictEqual(sent.sort(), valid.sort())
      })
  )
})
