import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Semaphore from "effect/Semaphore"
import {
  type DelayChanged,
  DuplicatePayment,
  type FailureChanged,
  HealthRateLimited,
  type Payment,
  PaymentNotFound,
  type PaymentRequest,
  type PaymentsSummary,
  ProcessorFailing,
  ProcessorOverloaded,
  type ProcessorStats,
  type ServiceHealth,
  type SummaryRange
} from "./Domain.ts"

/** The share of the amount the processor keeps: 0.05 for `default`, 0.15 for `fallback`. */
const ProcessorFee = Config.schema(
  Schema.NumberFromString.check(Schema.isBetween({ minimum: 0, maximum: 1 })),
  "PROCESSOR_FEE"
).pipe(Config.withDefault(0.05))

/** The initial admin token; the contest sets a new one before each run. */
const ProcessorToken = Config.String("PROCESSOR_TOKEN").pipe(Config.withDefault("123"))

/** The health endpoint's rate-limit window; short in tests. */
const HealthWindow = Config.Duration("HEALTH_WINDOW").pipe(Config.withDefault(Duration.seconds(5)))

const PositiveInt = Schema.NumberFromString.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(1))

/** Payments processed at the same time. */
const MaxInFlight = Config.schema(PositiveInt, "MAX_IN_FLIGHT").pipe(Config.withDefault(800))

/** Payments waiting for an in-flight place; past them, 429. */
const MaxQueued = Config.schema(
  Schema.NumberFromString.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0)),
  "MAX_QUEUED"
).pipe(Config.withDefault(500))

/** Health calls that may wait for a later window before the next ones get 429. */
const healthWaitingWindows = 2

/**
 * Rounds half up on the decimal the number was written as: 1.005 × 100 is
 * 100.49999999999999 in binary, yet 1.005 rounds to 1.01. Exact while the
 * value has at most 15 significant digits, far beyond any amount here.
 */
const roundHalfUp = (value: number): number => Math.round(Number(value.toPrecision(15)))

const paymentResult = (result: "processed" | "duplicate" | "failing" | "overloaded") =>
  Metric.counter("processor_payments_total", {
    description:
      "Payments answered, by result: processed (stored), duplicate (422), failing (500, as configured), overloaded (429)",
    attributes: { result },
    incremental: true
  })

const healthResult = (result: "answered" | "refused") =>
  Metric.counter("processor_health_calls_total", {
    description: "Health calls, by result: answered (200) or refused by the rate limit (429)",
    attributes: { result },
    incremental: true
  })

/**
 * What the simulator counts, exported with the platform's metrics when
 * METRICS_PORT is set, and answered by `GET /admin/stats` either way.
 */
const counters = {
  processed: paymentResult("processed"),
  duplicate: paymentResult("duplicate"),
  failing: paymentResult("failing"),
  overloaded: paymentResult("overloaded"),
  healthAnswered: healthResult("answered"),
  healthRefused: healthResult("refused")
}
const count = (counter: keyof typeof counters) => Metric.update(counters[counter], 1)
const countOf = (counter: keyof typeof counters) => Effect.map(Metric.value(counters[counter]), (state) => state.count)

interface StoredPayment {
  readonly cents: number
  readonly requestedAt: DateTime.Utc
  readonly requestedAtMillis: number
}

/** One Payment Processor: its payments in memory, its settings, its limits. */
export class Processor extends Context.Service<Processor>()("ProcessorSim/Processor", {
  make: Effect.gen(function* () {
    const fee = yield* ProcessorFee
    const token = yield* Ref.make(yield* ProcessorToken)
    const delay = yield* Ref.make(0)
    const failing = yield* Ref.make(false)
    const windowMillis = Duration.toMillis(yield* HealthWindow)
    const maxInFlight = yield* MaxInFlight
    const capacity = maxInFlight + (yield* MaxQueued)

    // Checked and written in one synchronous step each time, so no other fiber
    // can come in between the duplicate check and the insert.
    const payments = new Map<string, StoredPayment>()

    const inFlight = yield* Semaphore.make(maxInFlight)
    // In flight plus queued: what admission compares with the capacity.
    const admitted = yield* Ref.make(0)

    // When the latest window taken so far opens (in the past or, for a call
    // still waiting, in the future).
    const lastWindowStart = yield* Ref.make(Number.NEGATIVE_INFINITY)

    const store = Effect.fn("Processor.store")(function* (request: PaymentRequest) {
      const pause = yield* Ref.get(delay)
      if (pause > 0) yield* Effect.sleep(Duration.millis(pause))
      if (yield* Ref.get(failing)) {
        yield* count("failing")
        return yield* new ProcessorFailing()
      }
      const { amount, correlationId, requestedAt } = request
      const stored = yield* Effect.sync(() => {
        if (payments.has(correlationId)) return false
        const requestedAtMillis = DateTime.toEpochMillis(requestedAt)
        payments.set(correlationId, { cents: roundHalfUp(amount * 100), requestedAt, requestedAtMillis })
        return true
      })
      if (!stored) {
        yield* count("duplicate")
        return yield* new DuplicatePayment({ correlationId })
      }
      yield* count("processed")
    })

    /**
     * Waits the delay, then fails if set to, refuses a correlationId it
     * already holds, or stores the payment. Up to `MAX_IN_FLIGHT` run at once,
     * `MAX_QUEUED` more wait for a place, anything beyond gets 429.
     */
    const process = Effect.fn("Processor.process")(function* (request: PaymentRequest) {
      const admit = yield* Ref.modify(admitted, (n) => (n < capacity ? [true, n + 1] : [false, n]))
      if (!admit) {
        yield* count("overloaded")
        return yield* new ProcessorOverloaded()
      }
      yield* inFlight
        .withPermits(1)(store(request))
        .pipe(Effect.ensuring(Ref.update(admitted, (n) => n - 1)))
    })

    /**
     * The failure flag and the delay, rate limited for all callers together.
     * A window opens with the call that takes it and lasts `HEALTH_WINDOW`; a
     * call that meets a window still open waits for the next free one, with
     * at most two calls waiting (so one can wait two windows), and the rest
     * get 429. A caller that gives up while waiting has still used its window.
     */
    const health = Effect.fn("Processor.health")(function* () {
      const now = yield* Clock.currentTimeMillis
      const start = yield* Ref.modify(lastWindowStart, (last) => {
        const next = Math.max(now, last + windowMillis)
        return next - now > healthWaitingWindows * windowMillis ? [undefined, last] : [next, next]
      })
      if (start === undefined) {
        yield* count("healthRefused")
        return yield* new HealthRateLimited()
      }
      if (start > now) yield* Effect.sleep(Duration.millis(start - now))
      yield* count("healthAnswered")
      return { failing: yield* Ref.get(failing), minResponseTime: yield* Ref.get(delay) } satisfies ServiceHealth
    })

    const find = Effect.fn("Processor.find")(function* (correlationId: string) {
      const stored = payments.get(correlationId)
      if (stored === undefined) return yield* new PaymentNotFound({ correlationId })
      return { correlationId, amount: stored.cents / 100, requestedAt: stored.requestedAt } satisfies Payment
    })

    const summary = Effect.fn("Processor.summary")(({ from, to }: SummaryRange) =>
      Effect.sync(() => {
        const bounds =
          from === undefined || to === undefined
            ? undefined
            : { first: DateTime.toEpochMillis(from), last: DateTime.toEpochMillis(to) }
        let totalRequests = 0
        let cents = 0
        for (const payment of payments.values()) {
          const at = payment.requestedAtMillis
          if (bounds !== undefined && (at < bounds.first || at > bounds.last)) continue
          totalRequests++
          cents += payment.cents
        }
        return {
          totalRequests,
          totalAmount: cents / 100,
          totalFee: roundHalfUp(cents * fee) / 100,
          feePerTransaction: fee
        } satisfies PaymentsSummary
      })
    )

    const isCurrentToken = Effect.fn("Processor.isCurrentToken")(function* (candidate: string) {
      return candidate === (yield* Ref.get(token))
    })

    const setToken = Effect.fn("Processor.setToken")(function* (next: string) {
      yield* Ref.set(token, next)
    })

    const setDelay = Effect.fn("Processor.setDelay")(function* (next: number) {
      const was = yield* Ref.getAndSet(delay, next)
      return { config: "delay", was, is: next } satisfies DelayChanged
    })

    const setFailure = Effect.fn("Processor.setFailure")(function* (next: boolean) {
      const was = yield* Ref.getAndSet(failing, next)
      return { config: "failure", was, is: next } satisfies FailureChanged
    })

    const purge = Effect.fn("Processor.purge")(function* () {
      yield* Effect.sync(() => payments.clear())
    })

    const stats = Effect.fn("Processor.stats")(function* () {
      return {
        healthCalls: yield* countOf("healthAnswered"),
        healthRejected: yield* countOf("healthRefused"),
        paymentsRejected: yield* countOf("overloaded")
      } satisfies ProcessorStats
    })

    return {
      process,
      health,
      find,
      summary,
      isCurrentToken,
      setToken,
      setDelay,
      setFailure,
      purge,
      stats
    } as const
  })
}) {
  static readonly layer = Layer.effect(this, this.make)
}
