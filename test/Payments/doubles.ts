/**
 * Test layers for the services the dispatcher and the processor health talk
 * to: processors whose answers a test sets, and in-memory stand-ins for the
 * ledger, the journal and the shared health reports. Time is the Clock's, so
 * under `it.effect` everything moves only with `TestClock.adjust`. (The real
 * SQL behind the stores is tested against PostgreSQL in stores.test.ts.)
 */
import * as Clock from "effect/Clock"
import * as ConfigProvider from "effect/ConfigProvider"
import type * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import { Dispatcher } from "../../src/Payments/Dispatcher.ts"
import {
  Cents,
  type CorrelationId,
  type PaymentRequest,
  type PendingPayment,
  type ProcessorName,
  type RecordedPayment
} from "../../src/Payments/Domain.ts"
import { ProcessorHealth } from "../../src/Payments/Health.ts"
import { HealthReports } from "../../src/Payments/HealthReports.ts"
import { Journal } from "../../src/Payments/Journal.ts"
import { Ledger } from "../../src/Payments/Ledger.ts"
import { Processors, ProcessorUnreachable, SendOutcome, type ServiceHealth } from "../../src/Payments/Processors.ts"

/**
 * How a processor answers a payment now:
 * - `accept`: stores it (422 if it held it already);
 * - `refuse`: 500, stores nothing;
 * - `noAnswer`: the connection is lost, nothing stored;
 * - `storeWithoutAnswer`: stores it, but the answer never arrives (slower than the timeout).
 */
export type Behaviour = "accept" | "refuse" | "noAnswer" | "storeWithoutAnswer"

export interface SentRequest {
  readonly at: number
  readonly correlationId: CorrelationId
  readonly amount: Cents
  readonly requestedAt: DateTime.Utc
}

/** One processor whose behaviour the test sets, and everything it was asked. */
export class FakeProcessor {
  behaviour: Behaviour = "accept"
  /** How long it takes to answer a payment (Clock time). */
  latency: Duration.Input = 0
  /** Its lookup and health endpoints cannot be reached. */
  unreachable = false
  /** What its health endpoint says. */
  failing = false
  readonly book = new Map<CorrelationId, DateTime.Utc>()
  /**
   * Payments an earlier request (another instance's, or ours before a
   * restart) is still delivering: stored just before the next payment request
   * arrives, so a lookup before it does not see them.
   */
  readonly arriving = new Map<CorrelationId, DateTime.Utc>()
  readonly sent: Array<SentRequest> = []
  readonly lookups: Array<CorrelationId> = []
  readonly healthCalls: Array<number> = []
  readonly name: ProcessorName

  constructor(name: ProcessorName) {
    this.name = name
  }

  /** Failing as the simulator's failure flag makes it: every payment refused, and its health endpoint says so. */
  setFailing(failing: boolean) {
    this.behaviour = failing ? "refuse" : "accept"
    this.failing = failing
  }

  /** Payments it received, by correlationId. */
  sentOf(correlationId: CorrelationId) {
    return this.sent.filter((request) => request.correlationId === correlationId)
  }

  send(payment: PaymentRequest, requestedAt: DateTime.Utc) {
    return Effect.gen({ self: this }, function* () {
      const at = yield* Clock.currentTimeMillis
      this.sent.push({ at, correlationId: payment.correlationId, amount: payment.amount, requestedAt })
      for (const [correlationId, instant] of this.arriving) this.book.set(correlationId, instant)
      this.arriving.clear()
      if (Duration.isGreaterThan(Duration.fromInputUnsafe(this.latency), Duration.zero))
        yield* Effect.sleep(this.latency)
      if (this.behaviour === "refuse") return SendOutcome.Refused()
      if (this.behaviour === "noAnswer") return SendOutcome.NoAnswer()
      if (this.book.has(payment.correlationId)) return SendOutcome.AlreadyHeld()
      this.book.set(payment.correlationId, requestedAt)
      return this.behaviour === "storeWithoutAnswer" ? SendOutcome.NoAnswer() : SendOutcome.Accepted()
    })
  }

  holding(correlationId: CorrelationId) {
    return Effect.suspend(() => {
      this.lookups.push(correlationId)
      if (this.unreachable) {
        return Effect.fail(new ProcessorUnreachable({ processor: this.name, request: "GET", cause: "test" }))
      }
      return Effect.succeed(Option.fromUndefinedOr(this.book.get(correlationId)))
    })
  }

  health() {
    return Effect.gen({ self: this }, function* () {
      this.healthCalls.push(yield* Clock.currentTimeMillis)
      if (this.unreachable) {
        return yield* new ProcessorUnreachable({ processor: this.name, request: "GET", cause: "test" })
      }
      return { failing: this.failing, minResponseTime: 0 } satisfies ServiceHealth
    })
  }
}

/** The shared health table of PostgreSQL, in memory: one claim per interval, reports aged by the Clock. */
export class FakeHealthReports {
  readonly claimedAt: Record<ProcessorName, number> = { default: -Infinity, fallback: -Infinity }
  readonly reports: Record<ProcessorName, { readonly failing: boolean; readonly at: number }> = {
    default: { failing: false, at: -Infinity },
    fallback: { failing: false, at: -Infinity }
  }

  readonly intervalMs: number

  constructor(intervalMs: number) {
    this.intervalMs = intervalMs
  }

  /** What a health call (another instance's, say) found at `at`. */
  set(processor: ProcessorName, failing: boolean, at: number) {
    this.reports[processor] = { failing, at }
  }
}

export interface World {
  readonly default: FakeProcessor
  readonly fallback: FakeProcessor
  readonly reports: FakeHealthReports
  /** What the ledger holds, in the order recorded. */
  readonly recorded: Array<RecordedPayment>
  /** What the journal holds: this instance's pending payments. */
  readonly journal: Map<CorrelationId, PendingPayment>
  readonly forgotten: Array<CorrelationId>
  /** Correlation ids written to the journal before their 202. */
  readonly written: Array<CorrelationId>
  /** How many of the next records die (a database gone, a bug) before one lands. */
  recordDefects: number
}

export const makeWorld = (
  options: { readonly healthCallIntervalMs?: number; readonly recordDefects?: number } = {}
): World => ({
  default: new FakeProcessor("default"),
  fallback: new FakeProcessor("fallback"),
  reports: new FakeHealthReports(options.healthCallIntervalMs ?? 5500),
  recorded: [],
  journal: new Map(),
  forgotten: [],
  written: [],
  recordDefects: options.recordDefects ?? 0
})

const processorsOf = (world: World) =>
  Layer.succeed(Processors)(
    Processors.of({
      send: (processor, payment, requestedAt) => world[processor].send(payment, requestedAt),
      holding: (processor, correlationId) => world[processor].holding(correlationId),
      health: (processor) => world[processor].health()
    })
  )

const ledgerOf = (world: World) =>
  Layer.succeed(Ledger)(
    Ledger.of({
      record: (payment) =>
        Effect.suspend(() => {
          if (world.recordDefects > 0) {
            world.recordDefects--
            return Effect.die("the database is gone")
          }
          if (world.recorded.some((recorded) => recorded.correlationId === payment.correlationId)) return Effect.void
          world.recorded.push(payment)
          world.journal.delete(payment.correlationId)
          return Effect.void
        }),
      summary: () => Effect.die("not used by the dispatcher"),
      purge: () => Effect.die("not used by the dispatcher")
    })
  )

const journalOf = (world: World) =>
  Layer.succeed(Journal)(
    Journal.of({
      write: (payment) =>
        Effect.sync(() => {
          world.written.push(payment.correlationId)
          world.journal.set(payment.correlationId, { ...payment, sent: Option.none() })
        }),
      save: (payments) =>
        Effect.sync(() => {
          for (const payment of payments) world.journal.set(payment.correlationId, payment)
          return payments.length
        }),
      takeBack: () => Effect.sync(() => [...world.journal.values()]),
      forget: (correlationId) =>
        Effect.sync(() => {
          world.forgotten.push(correlationId)
          world.journal.delete(correlationId)
        })
    })
  )

const healthReportsOf = (world: World) =>
  Layer.succeed(HealthReports)(
    HealthReports.of({
      poll: (processor) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          const { reports } = world
          const claimed = now - reports.claimedAt[processor] >= reports.intervalMs
          if (claimed) reports.claimedAt[processor] = now
          const shared = reports.reports[processor]
          return { report: { failing: shared.failing, ageMs: Math.min(now - shared.at, 2_147_483_647) }, claimed }
        }),
      publish: (processor, health) =>
        Effect.map(Clock.currentTimeMillis, (now) => world.reports.set(processor, health.failing, now))
    })
  )

/** The settings of the tests, over the service's defaults. */
const configOf = (settings: Readonly<Record<string, string>>) =>
  ConfigProvider.layer(ConfigProvider.fromUnknown(settings))

/** ProcessorHealth over the world's processors and shared reports. */
export const healthLayer = (world: World, settings: Readonly<Record<string, string>> = {}) =>
  ProcessorHealth.layer.pipe(Layer.provide([processorsOf(world), healthReportsOf(world), configOf(settings)]))

/** The dispatcher as main.ts composes it, over the world's test layers. */
export const dispatcherLayer = (world: World, settings: Readonly<Record<string, string>> = {}) =>
  Dispatcher.layer.pipe(
    Layer.provide(healthLayer(world, settings)),
    Layer.provide([processorsOf(world), ledgerOf(world), journalOf(world), configOf(settings)])
  )

/** Lets every fiber that can run, run, without moving the clock. */
export const settle = TestClock.adjust(0)

/** An instant like the contest's, so that requestedAt values look like real ones. */
export const contestStart = Date.parse("2025-07-15T12:00:00.000Z")

/**
 * A running service built from `layer`, and `stop`, which stops it as SIGTERM
 * does: its scope closes while the test clock moves on by a minute, longer
 * than any DRAIN_TIMEOUT of these tests, as a real clock would meanwhile.
 */
export const start = <A, E>(layer: Layer.Layer<A, E>) =>
  Effect.gen(function* () {
    yield* TestClock.setTime(contestStart)
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(layer, scope)
    const stop = Effect.gen(function* () {
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(closing)
    })
    return { context, stop }
  })

export const payment = (correlationId: CorrelationId, cents = 1990): PaymentRequest => ({
  correlationId,
  amount: Cents.make(cents)
})
