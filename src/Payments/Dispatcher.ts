import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as RateLimiter from "effect/persistence/RateLimiter"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Tracer from "effect/Tracer"
import type { CorrelationId, PaymentRequest, Sent } from "./Domain.ts"
import { ProcessorHealth } from "./Health.ts"
import { Journal } from "./Journal.ts"
import { Ledger } from "./Ledger.ts"
import { DispatchRecorder } from "./Metrics.ts"
import * as Policy from "./Policy.ts"
import { Processors } from "./Processors.ts"

const DispatcherConfig = Config.all({
  /** Payments in flight to the processors at once, per instance. */
  concurrency: Config.Int("DISPATCH_CONCURRENCY").pipe(Config.withDefault(64)),
  /** On shutdown, how long payments already being sent may take to finish. */
  drainTimeout: Config.Duration("DRAIN_TIMEOUT").pipe(Config.withDefault("3 seconds")),
  /** Most payments sent per second by this instance; 0 for no limit. */
  rate: Config.Number("DISPATCH_RATE").pipe(Config.withDefault(0))
})

/**
 * The request a payment came with, when traces are exported: its dispatch is
 * a trace of its own (it outlives the request by far) linked to this span.
 */
export interface RequestSpan {
  readonly traceId: string
  readonly spanId: string
  readonly sampled: boolean
}

/** Nothing to do for this payment right now; try again later. */
class NotYet extends Data.TaggedError("NotYet") {}

const notYet = new NotYet()

/**
 * Waiting between attempts of one payment: quick at first (a processor that
 * refused one request under load may take the next), then twice a second
 * until a processor can take it. Jittered so that waiting payments do not
 * all come back at once.
 */
export const retrySchedule = Schedule.min([Schedule.exponential("10 millis", 2), Schedule.spaced("500 millis")]).pipe(
  Schedule.jittered
)

/** After a defect (a bug, the database gone while forgetting), the payment is queued again this much later. */
const requeueDelay = "1 second"

/**
 * Spaces the sends evenly at DISPATCH_RATE per second (none when 0): a
 * backlog drained as fast as the processor allows takes the CPU the API
 * needs to answer. A token bucket of one token: after a pause the first send
 * goes at once, the next ones one interval apart.
 */
const makePacer = (rate: number) =>
  rate <= 0
    ? Effect.succeed(Effect.void)
    : Effect.map(RateLimiter.make.pipe(Effect.provide(RateLimiter.layerStoreMemory)), (limiter) =>
        RateLimiter.sleep(limiter, {
          key: "dispatch",
          algorithm: "token-bucket",
          limit: 1,
          window: Duration.nanos(BigInt(Math.round(1e9 / rate)))
        }).pipe(Effect.asVoid, Effect.orDie)
      )

/**
 * Accepts payments at once and sends them to the processors in the
 * background: POST /payments never waits for a processor. A payment is
 * recorded (and so counted by the summary) only once a processor accepted
 * it. On shutdown the queue closes, the payments being sent get
 * DRAIN_TIMEOUT to finish, and every payment not recorded is kept in the
 * Journal for the next start of this instance.
 *
 * Accepted payments in, records out: this layer needs no HTTP server.
 */
export class Dispatcher extends Context.Service<Dispatcher>()("Payments/Dispatcher", {
  make: Effect.gen(function* () {
    const config = yield* DispatcherConfig
    const health = yield* ProcessorHealth
    const processors = yield* Processors
    const ledger = yield* Ledger
    const journal = yield* Journal
    const pace = yield* makePacer(config.rate)
    const recorder = yield* DispatchRecorder
    const queue = yield* Queue.unbounded<CorrelationId>()
    /** Every accepted payment not recorded yet, queued or being sent, as it stands now. */
    const unfinished = new Map<CorrelationId, Policy.Dispatch>()
    /** The request of each unfinished payment that came with one (traces on). */
    const requestSpans = new Map<CorrelationId, Tracer.ExternalSpan>()
    yield* recorder.watch(() => unfinished.size)

    const enqueue = (payment: Policy.Dispatch) => {
      unfinished.set(payment.correlationId, payment)
      Queue.offerUnsafe(queue, payment.correlationId)
    }

    const track = (payment: Policy.Dispatch) => Effect.sync(() => unfinished.set(payment.correlationId, payment))

    const finish = (payment: Policy.Dispatch) => {
      unfinished.delete(payment.correlationId)
      requestSpans.delete(payment.correlationId)
    }

    const done = (payment: Policy.Dispatch) => Effect.sync(() => finish(payment))

    const record = (payment: Policy.Dispatch, sent: Sent) =>
      ledger.record({ correlationId: payment.correlationId, amount: payment.amount, ...sent }).pipe(
        Effect.andThen(
          Effect.sync(() => {
            finish(payment)
            recorder.recorded(sent.processor)
          })
        )
      )

    // lookUp and attempt run for every attempt: untraced, like ProcessorHealth.route.

    /** Records the payment if a processor that may hold it does: it is looked up before it is sent again. */
    const lookUp = Effect.fnUntraced(function* (payment: Policy.Dispatch) {
      for (const processor of Policy.mayHold(payment)) {
        const held = yield* processors.holding(processor, payment.correlationId).pipe(Effect.mapError(() => notYet))
        if (Option.isSome(held)) {
          yield* record(payment, { processor, requestedAt: held.value })
          return true
        }
      }
      return false
    })

    /** One attempt: look up, route, send, learn; fails with NotYet when the payment must try again. */
    const attempt = Effect.fnUntraced(function* (correlationId: CorrelationId) {
      const payment = unfinished.get(correlationId)
      if (payment === undefined) return
      if (yield* lookUp(payment)) return
      const route = yield* health.route({ acceptedAt: payment.acceptedAt, pinnedTo: Policy.pinnedTo(payment) })
      if (route._tag === "Wait") return yield* notYet
      yield* pace
      const sent = { processor: route.processor, requestedAt: Policy.requestedAt(payment, yield* DateTime.now) }
      // Saved as sent before the request leaves: a shutdown during it keeps the payment pinned.
      yield* track({ ...payment, sent: Option.some(sent) })
      const outcome = yield* recorder.sending(
        sent.processor,
        processors.send(sent.processor, payment, sent.requestedAt)
      )
      yield* health.observe(route, outcome)
      const verdict = Policy.afterAnswer(payment, sent, outcome)
      switch (verdict._tag) {
        case "Record":
          return yield* record(payment, verdict.sent)
        case "Forget":
          return yield* journal.forget(payment.correlationId).pipe(Effect.andThen(done(payment)))
        case "Retry":
          yield* track(verdict.payment)
          return yield* notYet
      }
    })

    /**
     * Every attempt of one payment until it is recorded or forgotten. A defect
     * must not stop a worker, let alone all of them: the payment is queued again.
     */
    const dispatch = (correlationId: CorrelationId) => {
      const attempts = attempt(correlationId).pipe(
        Effect.retry(retrySchedule),
        Effect.catchDefect((defect) =>
          Effect.logError("dispatch failed; the payment is queued again", defect).pipe(
            Effect.andThen(Effect.sleep(requeueDelay)),
            Effect.andThen(Queue.offer(queue, correlationId))
          )
        )
      )
      const request = requestSpans.get(correlationId)
      return request === undefined
        ? attempts
        : Effect.withSpan(attempts, "Payments.dispatch", {
            root: true,
            kind: "consumer",
            links: [{ span: request, attributes: {} }],
            attributes: { "payment.correlation_id": correlationId }
          })
    }

    // Ends when the queue is shut down: its take is then interrupted.
    const worker = Effect.forever(Effect.flatMap(Queue.take(queue), dispatch))

    const startedAt = yield* Clock.currentTimeMillis
    const restored = yield* journal.takeBack()
    for (const pending of restored) {
      enqueue({ ...pending, acceptedAt: startedAt, unaccounted: Option.isNone(pending.sent) })
    }
    if (restored.length > 0) yield* Effect.log(`taking back ${restored.length} undispatched payments`)

    const workers = yield* FiberSet.make()
    for (let started = 0; started < config.concurrency; started++) yield* FiberSet.run(workers, worker)

    // Runs after the HTTP server stopped accepting, before the pool closes.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        yield* Queue.shutdown(queue)
        yield* FiberSet.awaitEmpty(workers).pipe(Effect.timeoutOption(config.drainTimeout))
        yield* FiberSet.clear(workers)
        const saved = yield* journal.save([...unfinished.values()])
        if (saved > 0) yield* Effect.log(`kept ${saved} undispatched payments for the next start`)
      })
    )

    /**
     * Takes a payment for dispatch (journaled already when JOURNAL is on: the
     * HTTP side writes it before its 202); a correlationId already on its way
     * is not taken twice.
     */
    const accept = (payment: PaymentRequest, request?: RequestSpan) =>
      Effect.map(Clock.currentTimeMillis, (acceptedAt) => {
        if (unfinished.has(payment.correlationId)) return
        if (request !== undefined) requestSpans.set(payment.correlationId, Tracer.externalSpan(request))
        enqueue({ ...payment, sent: Option.none(), acceptedAt, unaccounted: false })
        recorder.accepted()
      })

    return { accept } as const
  })
}) {
  static readonly layer = Layer.effect(this, this.make)
}
