/**
 * What a server tells about itself, and how it leaves the process.
 *
 * Metrics are Effect `Metric`s in the server's own registry, served in the
 * Prometheus text format by `effect/observability/PrometheusMetrics` on a
 * port of their own (`METRICS_PORT`), never on the API's. Without
 * `METRICS_PORT` nothing on the hot path records anything: there are no
 * request and database instruments at all.
 *
 * Traces leave through `effect/observability/OtlpTracer` (OTLP over HTTP)
 * when `OTEL_EXPORTER_OTLP_ENDPOINT` is set: one trace per sampled request,
 * with the spans `Effect.fn` and the SQL client name. Without it span
 * recording is off altogether (`References.TracerEnabled`).
 */

import { monitorEventLoopDelay } from "node:perf_hooks"
import { GCProfiler } from "node:v8"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as HttpRouter from "effect/http/HttpRouter"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as OtlpExporter from "effect/observability/OtlpExporter"
import * as OtlpSerialization from "effect/observability/OtlpSerialization"
import * as OtlpTracer from "effect/observability/OtlpTracer"
import * as PrometheusMetrics from "effect/observability/PrometheusMetrics"
import * as References from "effect/References"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Statement from "effect/sql/Statement"
import * as Tracer from "effect/Tracer"
import { DatabasePoolSize } from "./Config.ts"
import { PlatformServer } from "./NodeServer.ts"

/** Where Prometheus scrapes `/metrics`; unset (or empty, as compose passes it) turns metrics off. */
const MetricsPort = Config.schema(
  Schema.Union([
    Schema.Literal(""),
    Schema.NumberFromString.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 65_535 }))
  ]),
  "METRICS_PORT"
).pipe(Config.withDefault(""))

/** How often the runtime (event loop, heap, CPU) is sampled while metrics are on. */
const MetricsSampleInterval = Config.Duration("METRICS_SAMPLE_INTERVAL").pipe(Config.withDefault(Duration.seconds(5)))

/**
 * The instruments the platform's hot path is built with. Read once, when the
 * server and the services are built, never per request: off, they are
 * absent and cost nothing.
 */
export interface Instruments {
  /** Whether metrics leave the process (`METRICS_PORT` set); services record their own counters only then. */
  readonly exported: boolean
  /**
   * Records one answer, timed from `start` (the clock's monotonic nanoseconds when the
   * request reached the router), by method, route template and status.
   * Absent when metrics are off, so the server reads no clock at all. The
   * server calls it from the one wrapper that also logs its 5XX, instead of
   * wrapping every request twice.
   */
  readonly recordAnswer: AnswerRecorder | undefined
  /** Times every database call at a service's edge, and counts those that find the pool busy; absent when metrics are off. */
  readonly databaseCall: CallObserver | undefined
}

/** Told of a call once forked, with the fiber that runs it: by then it has run up to its first wait (a pooled connection, the server's answer). */
export type CallObserver = (call: Fiber.Fiber<unknown, unknown>) => void

export type AnswerRecorder = (
  context: Context.Context<never>,
  method: string,
  status: number,
  start: bigint,
  clock: Clock.Clock
) => void

export const Instruments = Context.Reference<Instruments>("Platform/Instruments", {
  defaultValue: () => ({ exported: false, recordAnswer: undefined, databaseCall: undefined })
})

/**
 * `Effect.withSpan` when spans are recorded, the call itself otherwise: for
 * what runs once per request or per attempt, where `Effect.fn`'s stack trace
 * and span (built even when not recorded) cost more than the work around them
 * (docs/crebitos-efficiency.md, "Inside Effect").
 */
export const makeSpanWhenTraced = Effect.map(
  References.TracerEnabled,
  (traced) =>
    (name: string) =>
    <A, E, R>(call: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      traced ? Effect.withSpan(call, name) : call
)

/**
 * One metric per set of labels, each built once: `Metric.withAttributes`
 * would build a new context on every update. Callers pass the labels in the
 * same order every time.
 */
export const seriesOf = <Labels extends Readonly<Record<string, string>>, M>(make: (labels: Labels) => M) => {
  const series = new Map<string, M>()
  return (labels: Labels): M => {
    const key = Object.values(labels).join("\n")
    const known = series.get(key)
    if (known !== undefined) return known
    const created = make(labels)
    series.set(key, created)
    return created
  }
}

/** 0.5 ms to about 2 s, doubling: the contest's answers are a few ms, its limit is DB_TIMEOUT (2 s). */
const latencyBoundaries = Metric.exponentialBoundaries({ start: 0.0005, factor: 2, count: 14 })

const requestDuration = seriesOf(
  (labels: { readonly method: string; readonly route: string; readonly status: string }) =>
    Metric.histogram("http_server_request_duration_seconds", {
      description:
        "Time to answer a request, by method, route template (unrouted: answered before routing) and status, in seconds",
      boundaries: latencyBoundaries,
      attributes: labels
    })
)

/** The label of a request answered before it reached a route: 404, 405, 413, 415. */
const unrouted = "unrouted"

/**
 * An answer's duration, labelled with the route's path template (never the
 * raw URL: ids would make a series each) and the status it was answered.
 * The router leaves the matched route in the fiber's context until the
 * request ends; without one, it was answered before routing.
 */
const recordAnswer: AnswerRecorder = (context, method, status, start, clock) => {
  const route = Context.getOrUndefined(context, HttpRouter.RouteContext)?.route.path ?? unrouted
  requestDuration({ method, route, status: String(status) }).updateUnsafe(
    Number(clock.monotonicTimeNanosUnsafe() - start) / 1e9,
    context
  )
}

const databaseCallDuration = Metric.histogram("db_call_duration_seconds", {
  description:
    "Time of a database call at a service's edge: waiting for a pooled connection, the round trip, decoding the rows, in seconds; a call abandoned at DB_TIMEOUT counts until it has ended",
  boundaries: latencyBoundaries
})

const poolWaits = Metric.counter("db_pool_waits_total", {
  description: "Database calls that began while every pooled connection was busy, so waited for one",
  incremental: true
})

const poolSize = Metric.gauge("db_pool_connections", { description: "Connections in the database pool (DB_POOL_SIZE)" })

const callsInFlight = Metric.gauge("db_calls_in_flight", {
  description: "Database calls under way when sampled, waiting for a connection included"
})

/**
 * The database instrument. sql-pg 4.0.5 tells how long a statement waited for
 * a pooled connection only on its span (`db.client.connection.wait_time_ms`,
 * with tracing on), so the metric counts the calls that had to wait instead:
 * one that begins while as many calls as connections are under way waits.
 * The in-flight count is shared by every service of the process.
 */
const makeDatabaseCallTimer = Effect.gen(function* () {
  const connections = yield* DatabasePoolSize
  const context = yield* Effect.context<never>()
  let inFlight = 0
  yield* Metric.update(poolSize, connections)
  yield* Metric.update(poolWaits, 0)
  const registration = Metric.registerUnsafe(callsInFlight, context, {
    get: () => ({ value: inFlight }),
    update: () => undefined,
    modify: () => undefined
  })
  yield* Effect.addFinalizer(() => Effect.sync(() => registration.remove()))
  const observe: CallObserver = (call) => {
    const clock = call.getRef(Clock.Clock)
    const start = clock.monotonicTimeNanosUnsafe()
    if (inFlight >= connections) poolWaits.updateUnsafe(1, call.context)
    inFlight++
    call.addObserver(() => {
      inFlight--
      databaseCallDuration.updateUnsafe(Number(clock.monotonicTimeNanosUnsafe() - start) / 1e9, call.context)
    })
  }
  return observe
})

const eventLoopDelay = (quantile: "p50" | "p99" | "max") =>
  Metric.gauge(`nodejs_eventloop_lag_${quantile}_seconds`, {
    description: `Event-loop delay over the last sampling interval, ${quantile === "max" ? "maximum" : quantile}, in seconds`
  })

const runtime = {
  lagP50: eventLoopDelay("p50"),
  lagP99: eventLoopDelay("p99"),
  lagMax: eventLoopDelay("max"),
  heapUsed: Metric.gauge("nodejs_heap_size_used_bytes", { description: "V8 heap in use, in bytes" }),
  heapTotal: Metric.gauge("nodejs_heap_size_total_bytes", { description: "V8 heap reserved, in bytes" }),
  external: Metric.gauge("nodejs_external_memory_bytes", {
    description: "Memory of C++ objects bound to JavaScript (buffers), in bytes"
  }),
  resident: Metric.gauge("process_resident_memory_bytes", { description: "Resident set size, in bytes" }),
  cpu: Metric.counter("process_cpu_seconds_total", {
    description: "CPU time of the process, user and system, in seconds",
    incremental: true
  })
}

/** V8's names for a collection (`GCProfiler`'s `gcType`), as the metric labels them. */
const gcKinds: Readonly<Record<string, string>> = {
  Scavenge: "minor",
  MinorMarkSweep: "minor",
  MarkSweepCompact: "major",
  IncrementalMarking: "incremental",
  ProcessWeakCallbacks: "weakcb"
}

const gcDuration = seriesOf((labels: { readonly kind: string }) =>
  Metric.histogram("nodejs_gc_duration_seconds", {
    description: "Garbage-collection pauses, by kind, in seconds",
    boundaries: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
    attributes: labels
  })
)

/**
 * The runtime, sampled off the hot path every `METRICS_SAMPLE_INTERVAL` by a
 * fiber of its own: event-loop delay, heap, CPU, and the GC pauses since the
 * last sample. Pauses come from V8's `GCProfiler`, which keeps them in C++
 * until asked, rather than a `gc` PerformanceObserver, which schedules a
 * JavaScript callback after every collection, tens a second on the loop
 * that answers requests (bench:ab at 128 req/s: 0.84–0.95 of the observer's
 * CPU; docs/observability.md).
 */
const sampleRuntime = Effect.gen(function* () {
  const interval = yield* MetricsSampleInterval
  const context = yield* Effect.context<never>()
  // A 100 ms timer, not Node's default 10 ms: at the contest's ~128 requests/s
  // per API, waking an idle loop 100 times a second cost more CPU than all
  // the request instruments (docs/observability.md, "What metrics cost").
  // A stall shorter than 100 ms is then seen only when a tick falls in it.
  const resolutionMillis = 100
  const delay = monitorEventLoopDelay({ resolution: resolutionMillis })
  delay.enable()
  yield* Effect.addFinalizer(() => Effect.sync(() => delay.disable()))

  const collections = new GCProfiler()
  collections.start()
  yield* Effect.addFinalizer(() => Effect.sync(() => collections.stop()))

  // Node records the time between two ticks of the monitor's timer, the
  // resolution included (an idle loop reads 100 ms): a tick's delay is what
  // exceeds it, as nodejs/node#34661 and OpenTelemetry's runtime
  // instrumentation (#2794) read it.
  const tickDelaySeconds = (nanos: number) => Math.max(0, nanos / 1e6 - resolutionMillis) / 1e3

  // From zero: the first sample counts the process's CPU since it started.
  let cpu: NodeJS.CpuUsage = { user: 0, system: 0 }
  const sample = Effect.gen(function* () {
    // An interval without a sample (the very first) has no percentiles to tell.
    if (delay.count > 0) {
      yield* Metric.update(runtime.lagP50, tickDelaySeconds(delay.percentile(50)))
      yield* Metric.update(runtime.lagP99, tickDelaySeconds(delay.percentile(99)))
      yield* Metric.update(runtime.lagMax, tickDelaySeconds(delay.max))
    }
    delay.reset()
    const memory = process.memoryUsage()
    yield* Metric.update(runtime.heapUsed, memory.heapUsed)
    yield* Metric.update(runtime.heapTotal, memory.heapTotal)
    yield* Metric.update(runtime.external, memory.external)
    yield* Metric.update(runtime.resident, memory.rss)
    const now = process.cpuUsage()
    yield* Metric.update(runtime.cpu, (now.user - cpu.user + now.system - cpu.system) / 1e6)
    cpu = now
    // Stopped and started again in one synchronous step: no collection falls in between.
    const { statistics } = collections.stop()
    collections.start()
    for (const collection of statistics) {
      gcDuration({ kind: gcKinds[collection.gcType] ?? "other" }).updateUnsafe(collection.cost / 1e6, context)
    }
  })
  yield* Effect.forkScoped(sample.pipe(Effect.repeat(Schedule.spaced(interval))))
})

/**
 * `GET /metrics` in the Prometheus text format on `port`: a second, tiny
 * server of its own, so a scrape never shares the API's port (nor nginx's),
 * and is never traced. Built apart, its services discarded: `HttpRouter.serve`
 * hands on the router it built, and the API's server would add its routes
 * to that one, so each port would serve the other's routes.
 */
const layerMetricsServer = (port: number) =>
  Layer.effectDiscard(
    Layer.build(
      HttpRouter.serve(PrometheusMetrics.layerHttp({ path: "/metrics" }), {
        disableLogger: true,
        disableListenLog: true
      }).pipe(
        Layer.provide(NodeHttpServer.layer(() => new PlatformServer(), { port })),
        Layer.provide(Layer.succeed(References.TracerEnabled)(false))
      )
    ).pipe(Effect.andThen(Effect.log(`metrics on port ${port}, at /metrics`)))
  )

/** Metrics on `METRICS_PORT`, with the instruments that feed them; without it, the inert instruments. */
const layerMetrics = Layer.unwrap(
  Effect.map(MetricsPort, (port) => {
    if (port === "") return Layer.empty
    const instruments = Layer.effect(
      Instruments,
      Effect.map(makeDatabaseCallTimer, (databaseCall) => ({ exported: true, recordAnswer, databaseCall }))
    )
    return Layer.mergeAll(instruments, Layer.effectDiscard(sampleRuntime), layerMetricsServer(port))
  })
)

const Ratio = Schema.NumberFromString.check(Schema.isBetween({ minimum: 0, maximum: 1 }))

/** The OpenTelemetry SDK's variables for what this exporter does, with their defaults. */
const TracingConfig = Config.all({
  endpoint: Config.option(Config.URL("OTEL_EXPORTER_OTLP_ENDPOINT")),
  protocol: Config.Literals(["http/protobuf", "http/json"], "OTEL_EXPORTER_OTLP_PROTOCOL").pipe(
    Config.withDefault("http/protobuf")
  ),
  ratio: Config.schema(Ratio, "OTEL_TRACES_SAMPLER_ARG").pipe(Config.withDefault(1)),
  exportInterval: Config.Int("OTEL_BSP_SCHEDULE_DELAY").pipe(Config.withDefault(5000)),
  serviceName: Config.option(Config.String("OTEL_SERVICE_NAME"))
})

/**
 * Samples whole requests: a server span without a parent is kept with
 * probability `ratio`, and every span under it follows its decision (Effect
 * gives a child its parent's); a request carrying a `traceparent` keeps the
 * caller's decision. A trace of its own linked to requests (the Payments
 * dispatch, carried over from its request) is kept when one of them was.
 * Other spans without a request above them (background work, start-up) are
 * not exported. The decision is made where the tracer makes a span, outside
 * any fiber, hence `Math.random`.
 */
const sampleRequests = (tracer: Tracer.Tracer, ratio: number): Tracer.Tracer =>
  Tracer.make({
    span: (options) =>
      tracer.span(
        Option.isSome(options.parent)
          ? options
          : {
              ...options,
              sampled:
                options.sampled &&
                (options.kind === "server" ? Math.random() < ratio : options.links.some((link) => link.span.sampled))
            }
      ),
    ...(tracer.context === undefined ? {} : { context: tracer.context })
  })

/** `<endpoint>/v1/traces`, as the OpenTelemetry SDKs derive it from `OTEL_EXPORTER_OTLP_ENDPOINT`. */
const tracesUrl = (endpoint: URL) => {
  const url = new URL(endpoint)
  url.pathname = `${url.pathname.replace(/\/$/, "")}/v1/traces`
  return url.href
}

/** OTLP traces when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; otherwise span recording off. */
const layerTracing = (service: string) =>
  Layer.unwrap(
    Effect.map(TracingConfig, (config) => {
      if (Option.isNone(config.endpoint)) return Layer.succeed(References.TracerEnabled)(false)
      const tracer = Layer.effect(Tracer.Tracer)(
        Effect.map(
          OtlpTracer.make({
            url: tracesUrl(config.endpoint.value),
            resource: { serviceName: Option.getOrElse(config.serviceName, () => service) },
            exportInterval: Duration.millis(config.exportInterval)
          }),
          (otlp) => sampleRequests(otlp, config.ratio)
        )
      )
      return Layer.mergeAll(
        tracer,
        Layer.succeed(References.TracerEnabled)(true),
        // SQL spans then carry how long they waited for a pooled connection.
        Layer.succeed(Statement.SpanPropagationEnabled)(true)
      ).pipe(
        Layer.provide([
          OtlpExporter.layerFlusher,
          FetchHttpClient.layer,
          config.protocol === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf
        ])
      )
    })
  )

/**
 * The metric registry of one server: its own, so two servers built in one
 * process (the two simulators of a test) never add up each other's counters.
 */
export const layerMetricRegistry = Layer.sync(Metric.MetricRegistry)((): Metric.MetricRegistry => new Map())

/**
 * Metrics and traces for the server of `service` (its name in traces), each
 * on only when configured. Provide it around everything the server builds,
 * on top of `layerMetricRegistry`.
 */
export const layerObservability = (service: string) => Layer.mergeAll(layerMetrics, layerTracing(service))
