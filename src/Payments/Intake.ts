/**
 * Where an accepted payment goes after its validation: journaled when JOURNAL
 * is on, then handed to the Dispatcher, which sends it to the processors in
 * the background. The Dispatcher runs on the HTTP thread's event loop, or
 * with DISPATCH_WORKER in a `node:worker_threads` worker of its own that
 * runs everything that sends payments (Dispatcher, ProcessorHealth,
 * HealthReports, Processors, the Ledger's records, the Journal's
 * takeBack/forget/save) on its own event loop and database pool: a backlog
 * drained when `default` comes back then takes the worker's loop, not the
 * one answering POST /payments.
 *
 * Effect's worker protocol (`effect/workers` with `@effect/platform-node`'s
 * NodeWorker and NodeWorkerRunner) carries the messages: it waits for the
 * worker's readiness, and on shutdown asks the worker to close and waits for
 * it to exit (terminating it after 5 s), which is what a graceful stop needs.
 * Its request/response layer (RpcWorker) is not used: a payment needs no answer.
 */

import { isMainThread, Worker, workerData } from "node:worker_threads"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeWorker from "@effect/platform-node/NodeWorker"
import * as NodeWorkerRunner from "@effect/platform-node/NodeWorkerRunner"
import type * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as References from "effect/References"
import * as Schedule from "effect/Schedule"
import * as WorkerPlatform from "effect/workers/Worker"
import * as WorkerRunner from "effect/workers/WorkerRunner"
import { Instruments, layerMetricRegistry, layerObservability } from "../Platform/Observability.ts"
import { LoggerLive } from "../Platform/Server.ts"
import { PgLive } from "../Platform/Sql.ts"
import { Dispatcher, type RequestSpan } from "./Dispatcher.ts"
import type { PaymentRequest } from "./Domain.ts"
import { ProcessorHealth } from "./Health.ts"
import { HealthReports } from "./HealthReports.ts"
import { Journal } from "./Journal.ts"
import { Ledger } from "./Ledger.ts"
import { DispatchRecorder, makeRecorder, mirror, mirrorInterval, type Series } from "./Metrics.ts"
import { Processors } from "./Processors.ts"

/** A payment handed over, with its request's span when traces are exported. */
interface Handed {
  readonly payment: PaymentRequest
  readonly request: RequestSpan | undefined
}

/** What the HTTP thread sends: the payments accepted since its last message, in order. */
type Handover = ReadonlyArray<Handed>

/** What the dispatch thread sends: a snapshot of its metrics (only with metrics on). */
type Report = ReadonlyArray<Series>

/** Marks the worker this module starts, so that the same file (or bundle) run as a worker knows its part. */
const dispatchRole = "payments-dispatch"

/** What the HTTP thread tells the worker it starts, beside the settings. */
interface DispatchWorkerData {
  readonly role: typeof dispatchRole
  readonly metrics: boolean
}

/**
 * Every setting the worker's services read. A worker gets environment
 * variables, while the HTTP thread's settings come from its ConfigProvider
 * (the environment in production, a record in tests): each is read there
 * and passed on. A dispatch setting missing here would take its default in
 * the worker.
 */
const workerSettings = [
  "DATABASE_URL",
  "DB_POOL_SIZE",
  "DB_TIMEOUT",
  "PROCESSOR_DEFAULT_URL",
  "PROCESSOR_FALLBACK_URL",
  "PROCESSOR_TIMEOUT",
  "FALLBACK_AFTER",
  "PROBE_INTERVAL",
  "HEALTH_POLL",
  "HEALTH_CALL_INTERVAL",
  "DISPATCH_CONCURRENCY",
  "DISPATCH_RATE",
  "DRAIN_TIMEOUT",
  "INSTANCE_ID",
  "LOG_FORMAT",
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "OTEL_EXPORTER_OTLP_PROTOCOL",
  "OTEL_TRACES_SAMPLER_ARG",
  "OTEL_BSP_SCHEDULE_DELAY",
  "OTEL_SERVICE_NAME"
] as const

const WorkerEnvironment = Config.all(
  workerSettings.map((name) => Config.option(Config.String(name)).pipe(Config.map((value) => [name, value] as const)))
).pipe(
  Config.map((settings) => {
    const env: Record<string, string> = {}
    for (const [name, value] of settings) if (Option.isSome(value)) env[name] = value.value
    return env
  })
)

/** Write each payment to PostgreSQL before answering 202, so that even a `kill -9` loses none (docs/payments.md). */
const JournalEnabled = Config.Boolean("JOURNAL").pipe(Config.withDefault(false))

/**
 * Dispatch in a worker thread of its own (docs/payments.md, "Dispatch in a
 * thread of its own"). Off by default: the worker's isolate costs about
 * 40 MB, more than the contest's 115 MB per instance leaves.
 */
const DispatchWorker = Config.Boolean("DISPATCH_WORKER").pipe(Config.withDefault(false))

/** The request's span when traces are exported, for the dispatch's trace to link to it. */
const makeRequestSpan = Effect.map(References.TracerEnabled, (traced) =>
  traced
    ? Effect.map(Effect.option(Effect.currentSpan), (span) =>
        Option.match(span, {
          onNone: () => undefined,
          onSome: ({ traceId, spanId, sampled }): RequestSpan => ({ traceId, spanId, sampled })
        })
      )
    : Effect.succeed(undefined)
)

/** The dispatch side's recorder when metrics are exported; the inert one otherwise. */
const layerRecorder = (metrics: boolean) => (metrics ? Layer.effect(DispatchRecorder, makeRecorder) : Layer.empty)

/** Accepted payments in, records out: everything that sends payments to the processors. */
const Dispatching = Dispatcher.layer.pipe(
  Layer.provide(ProcessorHealth.layer.pipe(Layer.provide(HealthReports.layer))),
  Layer.provide([Processors.layer, Journal.layer, Ledger.layer])
)

/**
 * The HTTP thread's side of dispatch: `accept` journals the payment when
 * JOURNAL is on, then hands it to the Dispatcher, in this thread or in the
 * dispatch thread (DISPATCH_WORKER).
 */
export class Intake extends Context.Service<
  Intake,
  { readonly accept: (payment: PaymentRequest) => Effect.Effect<void> }
>()("Payments/Intake") {
  /** The Dispatcher on the HTTP thread's event loop and pool. */
  static readonly inThread = Layer.effect(
    Intake,
    Effect.gen(function* () {
      const journaled = yield* JournalEnabled
      const journal = yield* Journal
      const dispatcher = yield* Dispatcher
      const requestSpan = yield* makeRequestSpan
      const accept = Effect.fnUntraced(function* (payment: PaymentRequest) {
        if (journaled) yield* journal.write(payment)
        yield* dispatcher.accept(payment, yield* requestSpan)
      })
      return { accept }
    })
  ).pipe(
    Layer.provide([Dispatching, Journal.layer]),
    Layer.provide(
      Layer.unwrap(
        Effect.gen(function* () {
          return layerRecorder((yield* Instruments).exported)
        })
      )
    )
  )

  /**
   * The Dispatcher in a worker thread: the payment is queued here, and a fiber
   * posts whatever accumulated as one message. Built once the worker said it
   * is ready (the payments kept by the last run taken back), so the port
   * opens after that. On shutdown, after the HTTP server finished its
   * requests, what is queued is posted, then the worker is asked to close: it
   * drains and keeps what it could not send.
   */
  static readonly inWorker = Layer.effect(
    Intake,
    Effect.gen(function* () {
      const journaled = yield* JournalEnabled
      const journal = yield* Journal
      const env = yield* WorkerEnvironment
      const { exported } = yield* Instruments
      const data: DispatchWorkerData = { role: dispatchRole, metrics: exported }
      const spawn = () => new Worker(new URL(import.meta.url), { workerData: data, env })
      const platform = yield* WorkerPlatform.WorkerPlatform
      const worker = yield* platform
        .spawn<Report, Handover>(0)
        .pipe(Effect.provide(WorkerPlatform.layerSpawner(spawn)), Effect.orDie)

      const mirrorReport = yield* mirror
      const onReport = (report: Report) => Effect.sync(() => mirrorReport(report))
      const ready = yield* Deferred.make<void>()
      const running = yield* worker.run(onReport, { onSpawn: Deferred.succeed(ready, undefined) }).pipe(
        // The worker never stops on its own: if it does, nothing is dispatched any more. The process
        // exits, and its restart policy starts it again (with JOURNAL, nothing accepted is lost).
        Effect.catchCause((cause) =>
          Effect.logError("the dispatch thread stopped", cause).pipe(
            Effect.andThen(Effect.sync(() => process.exit(70)))
          )
        ),
        Effect.forkScoped
      )
      yield* Effect.raceFirst(Deferred.await(ready), Fiber.join(running))

      const accepted = yield* Queue.unbounded<Handed, Cause.Done>()
      const forwarding = yield* Effect.forever(
        Effect.flatMap(Queue.takeAll(accepted), (payments) => worker.send(payments))
      ).pipe(
        Effect.catchCause(() => Effect.void),
        Effect.forkScoped
      )
      // Before the worker is asked to close (finalizers run in reverse): everything accepted reaches it first.
      yield* Effect.addFinalizer(() => Queue.end(accepted).pipe(Effect.andThen(Fiber.await(forwarding))))

      const requestSpan = yield* makeRequestSpan
      const accept = Effect.fnUntraced(function* (payment: PaymentRequest) {
        if (journaled) yield* journal.write(payment)
        Queue.offerUnsafe(accepted, { payment, request: yield* requestSpan })
      })
      return { accept }
    })
  ).pipe(Layer.provide([Journal.layer, NodeWorker.layerPlatform]))

  /** Where dispatch runs, as DISPATCH_WORKER says. Both need the HTTP thread's pool. */
  static readonly layer = Layer.unwrap(
    Effect.gen(function* () {
      return (yield* DispatchWorker) ? Intake.inWorker : Intake.inThread
    })
  )
}

/**
 * The worker's program: the dispatch services built (payments kept by the
 * last run taken back), then ready, then every message's payments accepted
 * until the HTTP thread asks it to close; then the Dispatcher drains and keeps
 * what is left, and the pool closes.
 */
const serveDispatch = (metrics: boolean) =>
  Effect.gen(function* () {
    const runner = yield* WorkerRunner.WorkerRunnerPlatform
    const messages = yield* runner.start<Report, Handover>()
    const dispatcher = yield* Dispatcher
    if (metrics) {
      yield* Effect.flatMap(Metric.snapshot, (snapshot) => messages.send(0, snapshot)).pipe(
        Effect.repeat(Schedule.spaced(mirrorInterval)),
        Effect.forkScoped
      )
    }
    yield* messages.run((_port, handover) =>
      Effect.forEach(handover, ({ payment, request }) => dispatcher.accept(payment, request), { discard: true })
    )
  }).pipe(
    Effect.scoped,
    Effect.provide(Dispatching.pipe(Layer.provide(PgLive))),
    Effect.provide(layerRecorder(metrics)),
    // Traces as the HTTP thread exports them (the OTEL_* settings); metrics leave through the HTTP thread.
    Effect.provide([NodeWorkerRunner.layer, LoggerLive, layerObservability("payments"), layerMetricRegistry])
  )

const isDispatchWorkerData = (data: unknown): data is DispatchWorkerData =>
  typeof data === "object" && data !== null && "role" in data && data.role === dispatchRole

const dispatchWorkerData: unknown = workerData
if (!isMainThread && isDispatchWorkerData(dispatchWorkerData)) {
  NodeRuntime.runMain(serveDispatch(dispatchWorkerData.metrics))
}
