import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpApiClient from "effect/http-api/HttpApiClient"
import { ProcessorSimApi } from "../../src/ProcessorSim/Api.ts"
import {
  type Environment,
  environment,
  eventually,
  type Instance,
  instance,
  live,
  newPayment,
  pay,
  processorsSummary,
  setConditions,
  summaryOf,
  totalRecorded
} from "../support/Payments.ts"

const payAll = (service: Instance, count: number) =>
  Effect.forEach(
    Array.from({ length: count }, () => newPayment()),
    (payment) => pay(service, payment),
    { concurrency: 10, discard: true }
  )

/** Waits until `count` payments are recorded, then checks the service agrees with the processors. */
const allRecorded = (env: Environment, service: Instance, count: number) =>
  Effect.gen(function* () {
    const recorded = yield* eventually(summaryOf(service), (summary) => totalRecorded(summary) === count, "15 seconds")
    assert.deepStrictEqual(recorded, yield* processorsSummary(env))
    assert.strictEqual(totalRecorded(recorded), count)
    return recorded
  })

describe("dispatch", () => {
  it.live("every payment reaches default and is recorded once, exactly as the processor stored it", () =>
    live(
      Effect.gen(function* () {
        const env = yield* environment()
        const service = yield* instance(env)
        // 0.01, 1.01, … 49.01: 1225.50 in all.
        const payments = Array.from({ length: 50 }, (_, index) => newPayment(index * 100 + 1))
        yield* Effect.forEach(payments, (payment) => pay(service, payment), { concurrency: 10 })
        const recorded = yield* allRecorded(env, service, 50)
        assert.strictEqual(recorded.default.totalRequests, 50)
        assert.strictEqual(recorded.default.totalAmount, 122_550)
        // On the wire, the decimal exactly.
        const http = yield* HttpClient.HttpClient
        const text = yield* http.get(`${service.url}/payments-summary`).pipe(
          Effect.flatMap((response) => response.text),
          Effect.orDie
        )
        assert.strictEqual(
          text,
          '{"default":{"totalRequests":50,"totalAmount":1225.5},"fallback":{"totalRequests":0,"totalAmount":0}}'
        )
      })
    )
  )

  it.live("both instances answer the same summary; a correlationId sent twice is recorded once", () =>
    live(
      Effect.gen(function* () {
        const env = yield* environment()
        const first = yield* instance(env, { INSTANCE_ID: "api01" })
        const second = yield* instance(env, { INSTANCE_ID: "api02" })
        const payments = Array.from({ length: 20 }, () => newPayment())
        // Each payment twice at the same instance and once at the other, all at once.
        yield* Effect.forEach(
          payments,
          (payment) => Effect.all([pay(first, payment), pay(first, payment), pay(second, payment)], { concurrency: 3 }),
          { concurrency: "unbounded" }
        )
        yield* allRecorded(env, first, 20)
        // Late duplicates of recorded payments change nothing either.
        yield* Effect.forEach(payments.slice(0, 5), (payment) => pay(second, payment))
        yield* Effect.sleep("300 millis")
        assert.deepStrictEqual(yield* summaryOf(second), yield* summaryOf(first))
        assert.deepStrictEqual(yield* summaryOf(first), yield* processorsSummary(env))
        assert.strictEqual(totalRecorded(yield* summaryOf(first)), 20)
      })
    )
  )

  it.live("default failing for longer than FALLBACK_AFTER: fallback takes the payments", () =>
    live(
      Effect.gen(function* () {
        const env = yield* environment()
        const service = yield* instance(env, { FALLBACK_AFTER: "300 millis" })
        yield* setConditions(env.processorDefault, 0, true)
        yield* payAll(service, 30)
        const recorded = yield* allRecorded(env, service, 30)
        assert.strictEqual(recorded.fallback.totalRequests, 30)
        assert.strictEqual(recorded.default.totalRequests, 0)
      })
    )
  )

  it.live("a processor slower than the timeout: payments stay with it (it may hold them) and count once", () =>
    live(
      Effect.gen(function* () {
        const env = yield* environment()
        // Every first request times out, yet default stores it: the retries
        // must find it there (422) and record it with the first requestedAt,
        // never send it to fallback as well.
        const service = yield* instance(env, { PROCESSOR_TIMEOUT: "150 millis", FALLBACK_AFTER: "100 millis" })
        yield* setConditions(env.processorDefault, 400, false)
        yield* payAll(service, 20)
        const recorded = yield* allRecorded(env, service, 20)
        assert.strictEqual(recorded.default.totalRequests, 20)
        assert.strictEqual(recorded.fallback.totalRequests, 0)
      })
    )
  )

  it.live("the summary counts by requestedAt within [from, to], both inclusive, like the processors", () =>
    live(
      Effect.gen(function* () {
        const env = yield* environment()
        const service = yield* instance(env)
        const payments = Array.from({ length: 3 }, () => newPayment())
        for (const payment of payments) {
          yield* pay(service, payment)
          yield* allRecorded(env, service, payments.indexOf(payment) + 1)
        }
        const client = yield* HttpApiClient.make(ProcessorSimApi, { baseUrl: env.processorDefault.url })
        const instants = yield* Effect.forEach(payments, (payment) =>
          client.payments.find({ params: { id: payment.correlationId } }).pipe(
            Effect.map((stored) => stored.requestedAt),
            Effect.orDie
          )
        )
        const [first, , last] = instants
        if (first === undefined || last === undefined) return assert.fail("no instants")
        const windows = [
          { query: { from: first, to: first }, count: 1 },
          { query: { from: first, to: last }, count: 3 },
          { query: { from: DateTime.add(first, { milliseconds: 1 }), to: last }, count: 2 },
          { query: { from: first, to: DateTime.subtract(last, { milliseconds: 1 }) }, count: 2 },
          { query: { from: DateTime.add(last, { milliseconds: 1 }), to: DateTime.add(last, { minutes: 1 }) }, count: 0 }
        ]
        for (const { count, query } of windows) {
          const ours = yield* service.client.payments.summary({ query }).pipe(Effect.orDie)
          const theirs = yield* env.processorDefault.admin.summary({ query }).pipe(Effect.orDie)
          assert.strictEqual(ours.default.totalRequests, count)
          assert.strictEqual(theirs.totalRequests, count)
          assert.strictEqual(ours.default.totalAmount, Math.round(theirs.totalAmount * 100))
        }
      })
    )
  )

  it.live("all instances together call each health endpoint within its rate limit: never a 429", () =>
    live(
      Effect.gen(function* () {
        const env = yield* environment({ HEALTH_WINDOW: "500 millis" })
        // Three instances, each eager to refresh every 20 ms: only the claim
        // in PostgreSQL keeps them to one call per window between them.
        const eager = { HEALTH_POLL: "20 millis", HEALTH_CALL_INTERVAL: "550 millis" }
        yield* Effect.forEach(["api01", "api02", "api03"], (id) => instance(env, { ...eager, INSTANCE_ID: id }))
        const processors = [env.processorDefault, env.processorFallback]
        const statsOf = Effect.forEach(processors, (processor) => processor.admin.stats().pipe(Effect.orDie))
        // Counted over a window with all three running (each starts its dispatch thread first).
        const before = yield* statsOf
        yield* Effect.sleep("2500 millis")
        const after = yield* statsOf
        after.forEach((stats, index) => {
          const calls = stats.healthCalls - (before[index]?.healthCalls ?? 0)
          assert.strictEqual(stats.healthRejected, 0)
          assert.isAtLeast(calls, 3)
          assert.isAtMost(calls, 6)
        })
      })
    )
  )
})
