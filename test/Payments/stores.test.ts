import { randomUUID } from "node:crypto"
import { assert, describe, layer } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { Cents, type RecordedPayment } from "../../src/Payments/Domain.ts"
import { HealthReports } from "../../src/Payments/HealthReports.ts"
import { Journal } from "../../src/Payments/Journal.ts"
import { Ledger } from "../../src/Payments/Ledger.ts"
import { applySqlFolder, PgLive, sqlFolderOf } from "../../src/Platform/Sql.ts"
import { layerFreshConfig } from "../support/Database.ts"

/** The three stores on a fresh database with sql/payments applied, as an instance starts them. */
const StoresLive = Layer.mergeAll(Ledger.layer, Journal.layer, HealthReports.layer).pipe(
  Layer.provideMerge(Layer.effectDiscard(Effect.orDie(Effect.flatMap(sqlFolderOf("payments"), applySqlFolder)))),
  Layer.provideMerge(PgLive),
  Layer.provide(layerFreshConfig({ INSTANCE_ID: "api01", HEALTH_CALL_INTERVAL: "300 millis" }))
)

const t0 = DateTime.makeUnsafe("2025-07-15T12:00:00.000Z")
const at = (millis: number) => DateTime.add(t0, { milliseconds: millis })

const recorded = (processor: RecordedPayment["processor"], cents: number, requestedAt: DateTime.Utc) => ({
  correlationId: randomUUID(),
  processor,
  amount: Cents.make(cents),
  requestedAt
})

layer(StoresLive, { excludeTestServices: true })("stores, against PostgreSQL", (it) => {
  describe("Ledger", () => {
    it.effect("records from many fibers land once each; the summary sums exact cents by requestedAt, inclusive", () =>
      Effect.gen(function* () {
        const ledger = yield* Ledger
        yield* ledger.purge()
        const payments = [
          ...Array.from({ length: 30 }, (_, index) => recorded("default", index * 100 + 1, at(index))),
          recorded("fallback", 999_999_999, at(5)),
          recorded("fallback", 1, at(29))
        ]
        // Each twice, all at once: one statement per batch, a second record changes nothing.
        yield* Effect.forEach([...payments, ...payments], ledger.record, { concurrency: "unbounded" })
        const all = yield* ledger.summary(Option.none(), Option.none())
        assert.deepStrictEqual(all, {
          default: { totalRequests: 30, totalAmount: Cents.make(43_530) },
          fallback: { totalRequests: 2, totalAmount: Cents.make(1_000_000_000) }
        })
        const window = yield* ledger.summary(Option.some(at(5)), Option.some(at(7)))
        assert.deepStrictEqual(window, {
          default: { totalRequests: 3, totalAmount: Cents.make(1_803) },
          fallback: { totalRequests: 1, totalAmount: Cents.make(999_999_999) }
        })
        const after = yield* ledger.summary(Option.some(at(30)), Option.none())
        assert.strictEqual(after.default.totalRequests + after.fallback.totalRequests, 0)
        yield* ledger.purge()
        assert.strictEqual((yield* ledger.summary(Option.none(), Option.none())).default.totalRequests, 0)
      })
    )
  })

  describe("Journal", () => {
    it.effect("what is written or saved is taken back as it was left, until recorded or forgotten", () =>
      Effect.gen(function* () {
        const journal = yield* Journal
        const ledger = yield* Ledger
        const [queued, pinned, recordedLater, forgotten] = Array.from({ length: 4 }, () => ({
          correlationId: randomUUID(),
          amount: Cents.make(1990)
        }))
        if (queued === undefined || pinned === undefined || recordedLater === undefined || forgotten === undefined) {
          return assert.fail("four payments")
        }
        yield* Effect.forEach([queued, recordedLater, forgotten], journal.write, { concurrency: "unbounded" })
        const sent = { processor: "fallback" as const, requestedAt: at(123) }
        assert.strictEqual(yield* journal.save([{ ...pinned, sent: Option.some(sent) }]), 1)
        yield* ledger.record({ ...recordedLater, processor: "default", requestedAt: at(1) })
        yield* journal.forget(forgotten.correlationId)
        // A payment already recorded is neither journaled nor kept again.
        yield* journal.write(recordedLater)
        assert.strictEqual(yield* journal.save([{ ...recordedLater, sent: Option.none() }]), 0)

        const back = yield* journal.takeBack()
        assert.deepStrictEqual(
          back.map((payment) => [payment.correlationId, payment.amount, payment.sent]),
          [
            [pinned.correlationId, Cents.make(1990), Option.some(sent)],
            [queued.correlationId, Cents.make(1990), Option.none()]
          ]
        )
        yield* Effect.forEach(back, (payment) => journal.forget(payment.correlationId))
        yield* ledger.purge()
      })
    )
  })

  describe("HealthReports", () => {
    it.effect("of many instances polling at once one wins the call per HEALTH_CALL_INTERVAL; all read its report", () =>
      Effect.gen(function* () {
        const reports = yield* HealthReports
        const claims = () =>
          Effect.map(
            Effect.forEach(Array.from({ length: 8 }), () => reports.poll("default"), { concurrency: "unbounded" }),
            (polls) => polls.filter((poll) => poll.claimed).length
          )
        // Never called: the report is as old as can be, so it counts for nothing.
        assert.isAbove((yield* reports.poll("fallback")).report.ageMs, 15_000)
        assert.strictEqual(yield* claims(), 1)
        assert.strictEqual(yield* claims(), 0)
        yield* reports.publish("default", { failing: true, minResponseTime: 100 })
        const read = yield* reports.poll("default")
        assert.isTrue(read.report.failing)
        assert.isBelow(read.report.ageMs, 1_000)
        yield* Effect.sleep("350 millis")
        assert.strictEqual(yield* claims(), 1)
      })
    )
  })
})
