import { hostname } from "node:os"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import { type CorrelationId, type PaymentRequest, type ProcessorName, processorNames, toCents } from "./Domain.ts"
import { Processors } from "./Processors.ts"
import { type Route, Router } from "./Router.ts"
import { type PendingPayment, Store } from "./Store.ts"

const DispatcherConfig = Config.all({
  /** Payments in flight to the processors at once, per instance. */
  concurrency: Config.Int("DISPATCH_CONCURRENCY").pipe(Config.withDefault(64)),
  /** On shutdown, how long payments already being sent may take to finish. */
  drainTimeout: Config.Duration("DRAIN_TIMEOUT").pipe(Config.withDefault("3 seconds")),
  /** Whose undispatched payments these are across restarts: stable per instance. */
  instanceId: Config.String("INSTANCE_ID").pipe(Config.withDefault(hostname())),
  /**
   * Write each payment to PostgreSQL before answering 202, so that even a
   * `kill -9` loses none (README, "Stopping"). Off: payments live in memory
   * until dispatched, and only a graceful stop keeps the undispatched ones.
   */
  journal: Config.Boolean("JOURNAL").pipe(Config.withDefault(false)),
  /** Most payments sent per second by this instance; 0 for no limit. */
  rate: Config.Number("DISPATCH_RATE").pipe(Config.withDefault(0))
})

/** An accepted payment on its way to a processor. */
interface Dispatch {
  readonly correlationId: CorrelationId
  readonly amountCents: number
  readonly acceptedAt: number
  /**
   * Set before each request and cleared only when the processor answered that
   * it stored nothing: a processor finishes requests whose client gave up, so
   * until then it may hold the payment — under exactly this requestedAt.
   */
  sent: Option.Option<{ readonly processor: ProcessorName; readonly requestedAt: string }>
  /**
   * Taken back after a restart without a record of where it was sent: a
   * process killed outright may have sent it anywhere (and a processor may
   * still be storing it), so both processors are asked before each attempt.
   */
  readonly unaccounted: boolean
}

/** Nothing to do for this payment right now; try again later. */
class NotYet extends Data.TaggedError("NotYet") {}

/**
 * Waiting between attempts of one payment: quick at first (a processor that
 * refused one request under load may take the next), then twice a second
 * until a processor can take it. Jittered so that waiting payments do not
 * all come back at once.
 */
const retrySchedule = Schedule.min([Schedule.exponential("10 millis", 2), Schedule.spaced("500 millis")]).pipe(
  Schedule.jittered
)

/** Recording survives a database restart: it is retried until it lands. */
const recordSchedule = Schedule.min([Schedule.exponential("50 millis", 2), Schedule.spaced("2 seconds")])

/**
 * Accepts payments at once and sends them to the processors in the
 * background: POST /payments never waits for a processor. A payment is
 * recorded (and so counted by the summary) only once a processor accepted
 * it. Payments not yet dispatched when the process stops are kept in
 * PostgreSQL and taken back by the same instance when it starts again.
 */
export class Dispatcher extends Context.Service<Dispatcher>()("Payments/Dispatcher", {
  make: Effect.gen(function* () {
    const config = yield* DispatcherConfig
    const store = yield* Store
    const processors = yield* Processors
    const router = yield* Router
    const queue = yield* Queue.unbounded<Dispatch>()
    /** Every accepted payment not yet finished, queued or being sent. */
    const unfinished = new Map<CorrelationId, Dispatch>()
    let sending = 0
    let stopping = false

    const enqueue = (payment: Dispatch) => {
      unfinished.set(payment.correlationId, payment)
      Queue.offerUnsafe(queue, payment)
    }

    const record = (payment: Dispatch, processor: ProcessorName, requestedAt: string) =>
      store
        .record({ correlationId: payment.correlationId, processor, amountCents: payment.amountCents, requestedAt })
        .pipe(Effect.retry(recordSchedule), Effect.orDie)

    /** Where a processor already holds the payment, and under which requestedAt. */
    const findHeld = (payment: Dispatch, candidates: ReadonlyArray<ProcessorName>) =>
      Effect.forEach(candidates, (processor) =>
        processors
          .holding(processor, payment.correlationId)
          .pipe(Effect.map(Option.map((requestedAt) => ({ processor, requestedAt }))))
      ).pipe(
        Effect.map((found) => Option.firstSomeOf(found)),
        Effect.mapError(() => new NotYet())
      )

    /**
     * Spaces the sends evenly at DISPATCH_RATE: a backlog drained as fast as
     * the processor allows takes all the CPU the API needs to answer.
     */
    const spacingMs = config.rate > 0 ? 1000 / config.rate : 0
    let nextSendAt = 0
    const pace = Effect.suspend(() => {
      if (spacingMs === 0) return Effect.void
      const now = Date.now()
      const at = Math.max(now, nextSendAt)
      nextSendAt = at + spacingMs
      return at - now >= 1 ? Effect.sleep(at - now) : Effect.void
    })

    const attempt = Effect.fn("Dispatcher.attempt")(function* (payment: Dispatch) {
      const pinnedTo = Option.map(payment.sent, (sent) => sent.processor)
      const mayHold = payment.unaccounted ? processorNames : Option.toArray(pinnedTo)
      if (mayHold.length > 0) {
        const held = yield* findHeld(payment, mayHold)
        if (Option.isSome(held)) return yield* record(payment, held.value.processor, held.value.requestedAt)
      }
      const route: Option.Option<Route> = router.route({ acceptedAt: payment.acceptedAt, pinnedTo })
      if (Option.isNone(route)) return yield* new NotYet()
      const { processor } = route.value
      yield* pace
      const requestedAt = Option.match(payment.sent, {
        onNone: () => new Date().toISOString(),
        onSome: (sent) => sent.requestedAt
      })
      payment.sent = Option.some({ processor, requestedAt })
      const outcome = yield* processors.send(processor, {
        correlationId: payment.correlationId,
        amount: payment.amountCents / 100,
        requestedAt
      })
      router.observe(route.value, outcome)
      switch (outcome._tag) {
        case "Accepted":
          return yield* record(payment, processor, requestedAt)
        case "AlreadyHeld":
          // Ours if an earlier request of ours may have reached it (then with
          // this requestedAt, or, sent before a restart, with the one the next
          // lookup finds); otherwise another instance sent a payment with the
          // same correlationId, and that one records it.
          if (Option.isSome(pinnedTo)) return yield* record(payment, processor, requestedAt)
          if (payment.unaccounted) return yield* new NotYet()
          return yield* store.forget(payment.correlationId)
        case "Refused":
          // This request stored nothing; an earlier one that got no answer still may.
          if (Option.isNone(pinnedTo)) payment.sent = Option.none()
          return yield* new NotYet()
        case "Unknown":
          return yield* new NotYet()
      }
    })

    const dispatch = (payment: Dispatch) =>
      Effect.suspend(() => {
        sending++
        return attempt(payment).pipe(
          Effect.retry(retrySchedule),
          Effect.tap(() => Effect.sync(() => unfinished.delete(payment.correlationId))),
          Effect.ensuring(Effect.sync(() => sending--))
        )
      })

    /**
     * A defect (the database gone while forgetting a payment, a bug) must not
     * stop a worker, let alone all of them: the payment goes back to the queue.
     */
    const dispatchSafely = (payment: Dispatch) =>
      dispatch(payment).pipe(
        Effect.catchDefect((defect) =>
          Effect.logError("dispatch failed; the payment is queued again", defect).pipe(
            Effect.andThen(Effect.sleep("1 second")),
            Effect.andThen(Effect.sync(() => Queue.offerUnsafe(queue, payment)))
          )
        )
      )

    const worker = Effect.suspend(() =>
      stopping ? Effect.never : Effect.flatMap(Queue.take(queue), dispatchSafely)
    ).pipe(Effect.forever)

    /** Keeps what was not dispatched; the pool is still open (layers close after their users). */
    const saveUnfinished = Effect.suspend(() => {
      const payments = [...unfinished.values()].map(
        (payment): PendingPayment => ({
          correlationId: payment.correlationId,
          amountCents: payment.amountCents,
          sent: payment.sent
        })
      )
      return payments.length === 0 ? Effect.succeed(0) : store.savePending(config.instanceId, payments)
    })

    const waitForSends = Effect.sync(() => sending).pipe(
      Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (inFlight) => inFlight === 0 }),
      Effect.timeoutOption(config.drainTimeout)
    )

    // Payments this instance left behind when it last stopped.
    const restored = yield* store.pendingOf(config.instanceId)
    for (const pending of restored) {
      enqueue({ ...pending, acceptedAt: Date.now(), unaccounted: Option.isNone(pending.sent) })
    }
    if (restored.length > 0) yield* Effect.log(`taking back ${restored.length} undispatched payments`)

    const workers = yield* Effect.forkScoped(
      Effect.all(
        Array.from({ length: config.concurrency }, () => worker),
        { concurrency: "unbounded" }
      )
    )
    yield* Effect.forkScoped(router.monitor)
    // Runs after the HTTP server stopped accepting, before the pool closes.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        stopping = true
        yield* waitForSends
        yield* Fiber.interrupt(workers)
        const saved = yield* saveUnfinished
        if (saved > 0) yield* Effect.log(`kept ${saved} undispatched payments for the next start`)
      })
    )

    /** Takes a payment for dispatch; a correlationId already on its way is not taken twice. */
    const accept = Effect.fn("Dispatcher.accept")(function* (request: PaymentRequest) {
      if (unfinished.has(request.correlationId)) return
      const payment: Dispatch = {
        correlationId: request.correlationId,
        amountCents: toCents(request.amount),
        acceptedAt: Date.now(),
        sent: Option.none(),
        unaccounted: false
      }
      if (config.journal) {
        yield* store.journal(config.instanceId, {
          correlationId: payment.correlationId,
          amountCents: payment.amountCents
        })
      }
      enqueue(payment)
    })

    return { accept } as const
  })
}) {
  static readonly layer = Layer.effect(this, this.make)
}
