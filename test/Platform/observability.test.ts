import { randomUUID } from "node:crypto"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as SqlClient from "effect/sql/SqlClient"
import { freePort } from "../../local/Processes.ts"
import { CrebitosTest, crebitosTest } from "../support/Crebitos.ts"
import { rawRequest, serverPort } from "../support/Http.ts"
import {
  bucketsOf,
  collectGarbage,
  countOf,
  promtoolProblems,
  type Scrape,
  samples,
  scrape,
  seriesValue
} from "../support/Metrics.ts"
import { attribute, OtlpReceiver, receivedSpans, type Span, SpanKind } from "../support/Otlp.ts"
import { simulator } from "../support/Payments.ts"

const json = { "content-type": "application/json" }
const transacao = (valor: number, tipo: "c" | "d") => JSON.stringify({ valor, tipo, descricao: "observada" })

/** The port the server under test exports its metrics on. */
class MetricsPort extends Context.Service<MetricsPort, number>()("test/MetricsPort") {}

/** Crébitos with metrics on a free port, sampled often enough for a test to see the runtime move. */
const observedCrebitos = (env: Readonly<Record<string, string>> = {}) =>
  Layer.unwrap(
    Effect.map(freePort, (port) =>
      crebitosTest({
        METRICS_PORT: String(port),
        // Longer than the event-loop monitor's 100 ms, so each interval holds a tick of it.
        METRICS_SAMPLE_INTERVAL: "250 millis",
        WARMUP_REQUESTS: "0",
        ...env
      }).pipe(Layer.merge(Layer.succeed(MetricsPort, port)))
    )
  )

const request = (method: "GET" | "POST", path: string, body?: string) =>
  Effect.flatMap(serverPort, (port) =>
    rawRequest(port, body === undefined ? { method, path } : { method, path, headers: json, body })
  )

const scrapeServer = Effect.gen(function* () {
  return yield* scrape(yield* MetricsPort)
})

const route = (method: string, path: string, status: number) => ({ method, route: path, status: String(status) })
const transacoes = "/clientes/:id/transacoes"
const extrato = "/clientes/:id/extrato"
const requestSeconds = "http_server_request_duration_seconds"

/** How much each series moved between two scrapes. */
const moved = (before: Scrape, after: Scrape) => ({
  requests: (labels: Readonly<Record<string, string>>) =>
    countOf(after, requestSeconds, labels) - countOf(before, requestSeconds, labels),
  counter: (name: string, labels: Readonly<Record<string, string>> = {}) =>
    seriesValue(after, name, labels) - seriesValue(before, name, labels),
  histogram: (name: string) => countOf(after, name) - countOf(before, name)
})

layer(observedCrebitos(), { excludeTestServices: true })("metrics on METRICS_PORT", (it) => {
  it.effect("Prometheus text on /metrics, which Prometheus's own linter accepts, and nothing else on that port", () =>
    Effect.gen(function* () {
      yield* request("POST", "/clientes/1/transacoes", transacao(1, "c"))
      const scraped = yield* scrapeServer
      assert.strictEqual(scraped.status, 200)
      const port = yield* MetricsPort
      assert.strictEqual((yield* rawRequest(port, { method: "GET", path: "/clientes/1/extrato" })).status, 404)
      assert.strictEqual((yield* rawRequest(port, { method: "GET", path: "/healthz" })).status, 404)
      assert.match(scraped.contentType ?? "", /^text\/plain; version=0\.0\.4/)
      // What the off case below inspects is this registry, the server's.
      assert.include(
        (yield* Metric.snapshot).map((metric) => metric.id),
        requestSeconds
      )
      const lint = yield* promtoolProblems
      if (Option.isSome(lint)) assert.strictEqual(lint.value(scraped.text), "", scraped.text)
    })
  )

  it.effect("requests by method, route template and status; ids never become labels", () =>
    Effect.gen(function* () {
      const before = yield* scrapeServer
      for (let i = 0; i < 3; i++) {
        assert.strictEqual((yield* request("POST", `/clientes/${i + 1}/transacoes`, transacao(1, "c"))).status, 200)
      }
      assert.strictEqual((yield* request("POST", "/clientes/1/transacoes", transacao(1_000_000_000, "d"))).status, 422)
      assert.strictEqual((yield* request("POST", "/clientes/1/transacoes", "{}")).status, 422)
      assert.strictEqual((yield* request("GET", "/clientes/2/extrato")).status, 200)
      assert.strictEqual((yield* request("GET", "/clientes/5/extrato")).status, 200)
      assert.strictEqual((yield* request("GET", "/clientes/6/extrato")).status, 404)
      assert.strictEqual((yield* request("GET", "/nada")).status, 404)
      assert.strictEqual((yield* request("GET", "/metrics")).status, 404, "never on the API's port")
      const after = yield* scrapeServer
      const delta = moved(before, after)

      assert.strictEqual(delta.requests(route("POST", transacoes, 200)), 3)
      assert.strictEqual(delta.requests(route("POST", transacoes, 422)), 2)
      assert.strictEqual(delta.requests(route("GET", extrato, 200)), 2)
      assert.strictEqual(delta.requests(route("GET", extrato, 404)), 1)
      assert.strictEqual(delta.requests(route("GET", "unrouted", 404)), 2)
      const routes = samples(after, `${requestSeconds}_count`).map((series) => series.labels.route ?? "")
      assert.includeMembers(routes, [transacoes, extrato, "unrouted"])
      for (const label of routes) assert.notMatch(label, /\d/, `route label ${label}`)
    })
  )

  it.effect("the latency histogram: cumulative buckets in seconds, +Inf the count, a sum", () =>
    Effect.gen(function* () {
      yield* request("GET", "/clientes/1/extrato")
      const scraped = yield* scrapeServer
      const labels = route("GET", extrato, 200)
      const buckets = bucketsOf(scraped, requestSeconds, labels)
      assert.deepStrictEqual(
        buckets.map(([le]) => le),
        [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, Infinity]
      )
      for (let i = 1; i < buckets.length; i++) {
        assert.isAtLeast(buckets[i]?.[1] ?? 0, buckets[i - 1]?.[1] ?? 0, "cumulative")
      }
      const count = countOf(scraped, requestSeconds, labels)
      const sum = seriesValue(scraped, `${requestSeconds}_sum`, labels)
      assert.isAbove(count, 0)
      assert.strictEqual(buckets.at(-1)?.[1], count)
      assert.isAbove(sum, 0)
      assert.isBelow(sum / count, 2, "seconds, not milliseconds")
    })
  )

  it.effect("database calls at the service edge, and the ledger's answers by type and result", () =>
    Effect.gen(function* () {
      const before = yield* scrapeServer
      yield* request("POST", "/clientes/1/transacoes", transacao(5, "c"))
      yield* request("POST", "/clientes/1/transacoes", transacao(5, "d"))
      yield* request("POST", "/clientes/1/transacoes", transacao(1_000_000_000, "d"))
      yield* request("POST", "/clientes/6/transacoes", transacao(5, "c"))
      yield* request("GET", "/clientes/1/extrato")
      // Refused before the ledger: no database call.
      yield* request("POST", "/clientes/1/transacoes", "{}")
      const after = yield* scrapeServer
      const delta = moved(before, after)

      assert.strictEqual(delta.histogram("db_call_duration_seconds"), 5)
      const transactions = "crebitos_transactions_total"
      assert.strictEqual(delta.counter(transactions, { tipo: "c", result: "ok" }), 1)
      assert.strictEqual(delta.counter(transactions, { tipo: "d", result: "ok" }), 1)
      assert.strictEqual(delta.counter(transactions, { tipo: "d", result: "limite_excedido" }), 1)
      assert.strictEqual(delta.counter(transactions, { tipo: "c", result: "cliente_inexistente" }), 1)
      assert.strictEqual(samples(after, transactions).length, 6, "every type and result, from the start")
      assert.strictEqual(seriesValue(after, "db_pool_connections"), 4)
    })
  )

  it.effect("pool waits: calls beyond the pool's connections are counted, and seen in flight", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const before = yield* scrapeServer
      // Six transactions for a client whose row is locked: four hold the
      // pool's connections, waiting on the lock; two wait for a connection.
      const blocked = yield* sql
        .withTransaction(
          Effect.gen(function* () {
            yield* sql`SELECT saldo FROM clientes WHERE id = 1 FOR UPDATE`
            const requests = yield* Effect.forkChild(
              Effect.all(
                Array.from({ length: 6 }, () => request("POST", "/clientes/1/transacoes", transacao(1, "c"))),
                { concurrency: "unbounded" }
              )
            )
            const waiting = yield* scrapeServer.pipe(
              Effect.repeat({
                until: (now) => seriesValue(now, "db_calls_in_flight") === 6,
                schedule: Schedule.spaced("20 millis")
              })
            )
            return { requests, waiting }
          })
        )
        .pipe(Effect.orDie)
      const answers = yield* Fiber.join(blocked.requests).pipe(Effect.orDie)
      assert.deepStrictEqual(
        answers.map((answer) => answer.status),
        [200, 200, 200, 200, 200, 200]
      )
      assert.strictEqual(moved(before, blocked.waiting).counter("db_pool_waits_total"), 2)
      assert.strictEqual(seriesValue(yield* scrapeServer, "db_calls_in_flight"), 0)
    })
  )

  it.effect("the runtime: event-loop delay, heap, resident memory, CPU and GC pauses", () =>
    Effect.gen(function* () {
      assert.strictEqual(collectGarbage(), 1_000_000)
      const scraped = yield* scrapeServer.pipe(
        Effect.repeat({
          until: (now) =>
            samples(now, "nodejs_eventloop_lag_p99_seconds").length > 0 &&
            countOf(now, "nodejs_gc_duration_seconds") > 0,
          schedule: Schedule.spaced("50 millis")
        })
      )
      for (const gauge of [
        "nodejs_heap_size_used_bytes",
        "nodejs_heap_size_total_bytes",
        "process_resident_memory_bytes"
      ]) {
        assert.isAbove(seriesValue(scraped, gauge), 1024 * 1024, gauge)
      }
      assert.isAbove(seriesValue(scraped, "process_cpu_seconds_total"), 0)
      const lag = ["p50", "p99", "max"].map((quantile) =>
        seriesValue(scraped, `nodejs_eventloop_lag_${quantile}_seconds`)
      )
      assert.isAtLeast(lag[0] ?? -1, 0)
      // The monitor's timer ticks every 100 ms; a tick on time is no delay.
      assert.isBelow(lag[0] ?? 1, 0.05, "seconds: the median tick of a loop that is mostly idle")
      assert.isAtMost(lag[0] ?? 0, lag[1] ?? 0)
      assert.isAtMost(lag[1] ?? 0, lag[2] ?? 0)
      assert.isBelow(lag[2] ?? 0, 10, "seconds")
    })
  )
})

layer(CrebitosTest, { excludeTestServices: true })("metrics off (METRICS_PORT unset)", (it) => {
  it.effect("traffic records nothing: the server's registry stays empty", () =>
    Effect.gen(function* () {
      assert.strictEqual((yield* request("POST", "/clientes/1/transacoes", transacao(1, "c"))).status, 200)
      assert.strictEqual((yield* request("GET", "/clientes/1/extrato")).status, 200)
      assert.strictEqual((yield* request("GET", "/metrics")).status, 404)
      assert.deepStrictEqual(
        (yield* Metric.snapshot).map((metric) => metric.id),
        []
      )
    })
  )
})

/** Crébitos exporting its traces to a receiver of the test's own. */
const tracedCrebitos = (env: Readonly<Record<string, string>>) =>
  Layer.unwrap(
    Effect.gen(function* () {
      const { endpoint } = yield* OtlpReceiver
      return crebitosTest({
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        OTEL_BSP_SCHEDULE_DELAY: "50",
        WARMUP_REQUESTS: "0",
        ...env
      })
    })
  ).pipe(Layer.provideMerge(OtlpReceiver.layer))

/** Waits, a few seconds at most, until the receiver has been sent what `done` looks for. */
const receivedUntil = <A>(done: (receiver: OtlpReceiver["Service"]) => A | undefined) =>
  Effect.gen(function* () {
    const receiver = yield* OtlpReceiver
    return yield* Effect.suspend(() => {
      const found = done(receiver)
      return found === undefined ? Effect.fail("not yet") : Effect.succeed(found)
    }).pipe(Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 100 }), Effect.orDie)
  })

/** The chain of parents of `span`, nearest first, within the spans received. */
const ancestors = (spans: ReadonlyArray<Span>, span: Span): ReadonlyArray<Span> => {
  const parent = spans.find((candidate) => candidate.spanId === span.parentSpanId)
  return parent === undefined ? [] : [parent, ...ancestors(spans, parent)]
}

layer(tracedCrebitos({ OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" }), { excludeTestServices: true })(
  "traces over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set",
  (it) => {
    it.effect("one trace per request: the server span, then Ledger.transact, then its SQL", () =>
      Effect.gen(function* () {
        assert.strictEqual((yield* request("POST", "/clientes/1/transacoes", transacao(7, "c"))).status, 200)
        const spans = yield* receivedUntil(({ exports }) => {
          const received = receivedSpans(exports)
          const transact = received.find((span) => span.name === "Ledger.transact")
          const sql = received.find((span) => span.parentSpanId === transact?.spanId && span.kind === SpanKind.client)
          const server = received.find((span) => span.traceId === transact?.traceId && span.kind === SpanKind.server)
          return transact !== undefined && sql !== undefined && server !== undefined ? received : undefined
        })
        const transact = spans.find((span) => span.name === "Ledger.transact")
        assert.isDefined(transact)
        if (transact === undefined) return
        const trace = spans.filter((span) => span.traceId === transact.traceId)
        const servers = trace.filter((span) => span.kind === SpanKind.server)
        assert.strictEqual(servers.length, 1, "one request, one server span")
        const [server] = servers
        assert.isDefined(server)
        if (server === undefined) return
        assert.isUndefined(server.parentSpanId, "the request is the trace's root")
        assert.strictEqual(server.service, "crebitos")
        assert.strictEqual(attribute(server, "http.route"), "/clientes/:id/transacoes")
        assert.strictEqual(attribute(server, "http.request.method"), "POST")
        assert.strictEqual(Number(attribute(server, "http.response.status_code")), 200)
        assert.include(
          ancestors(trace, transact).map((span) => span.spanId),
          server.spanId,
          "Ledger.transact runs under the request"
        )
        const sql = trace.filter((span) => span.parentSpanId === transact.spanId && span.kind === SpanKind.client)
        assert.strictEqual(sql.length, 1, "one round trip")
        assert.include(String(attribute(sql[0] ?? transact, "db.query.text")), "registrar_transacao")
        assert.isDefined(
          attribute(sql[0] ?? transact, "db.client.connection.wait_time_ms"),
          "the pool wait, per statement"
        )
      })
    )

    it.effect("work outside a request (the schema check every second) is not exported", () =>
      Effect.gen(function* () {
        assert.strictEqual((yield* request("GET", "/clientes/1/extrato")).status, 200)
        // Past a schema check, and a request's trace after it.
        yield* Effect.sleep("1200 millis")
        assert.strictEqual((yield* request("GET", "/clientes/2/extrato")).status, 200)
        const spans = yield* receivedUntil(({ exports }) => {
          const received = receivedSpans(exports)
          return received.filter((span) => span.name === "Ledger.statement").length >= 2 ? received : undefined
        })
        const requestTraces = new Set(spans.filter((span) => span.kind === SpanKind.server).map((span) => span.traceId))
        for (const span of spans) assert.isTrue(requestTraces.has(span.traceId), `${span.name} belongs to a request`)
      })
    )
  }
)

const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"

layer(tracedCrebitos({ OTEL_TRACES_SAMPLER_ARG: "0" }), { excludeTestServices: true })(
  "sampling (OTEL_TRACES_SAMPLER_ARG) and the default protocol, OTLP/HTTP protobuf",
  (it) => {
    it.effect("ratio 0 exports no request of its own, and keeps a caller's sampled traceparent", () =>
      Effect.gen(function* () {
        const port = yield* serverPort
        assert.strictEqual((yield* rawRequest(port, { method: "GET", path: "/clientes/1/extrato" })).status, 200)
        const traced = yield* rawRequest(port, {
          method: "GET",
          path: "/clientes/2/extrato",
          headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` }
        })
        assert.strictEqual(traced.status, 200)
        const id = Buffer.from(traceId, "hex")
        const bodies = yield* receivedUntil(({ exports }) =>
          exports.some((received) => received.body.includes(id)) ? exports : undefined
        )
        for (const received of bodies) {
          assert.strictEqual(received.path, "/v1/traces")
          assert.strictEqual(received.contentType, "application/x-protobuf")
        }
        // Protobuf keeps strings as they are: one Ledger.statement span in all, the traced one.
        const statements = bodies.reduce(
          (count, received) => count + received.body.toString("latin1").split("Ledger.statement").length - 1,
          0
        )
        assert.strictEqual(statements, 1)
      })
    )
  }
)

describe("the Payment Processor simulator's own counters", () => {
  it.live("payments by result and health calls by answer, the same numbers /admin/stats gives", () =>
    Effect.gen(function* () {
      const metricsPort = yield* freePort
      const processor = yield* simulator("0.05", {
        METRICS_PORT: String(metricsPort),
        HEALTH_WINDOW: "50 millis",
        MAX_IN_FLIGHT: "1",
        MAX_QUEUED: "0"
      })
      const port = Number(new URL(processor.url).port)
      const pay = (correlationId: string) =>
        rawRequest(port, {
          method: "POST",
          path: "/payments",
          headers: json,
          body: JSON.stringify({ correlationId, amount: 19.9, requestedAt: new Date().toISOString() })
        })
      const once = randomUUID()
      assert.strictEqual((yield* pay(once)).status, 200)
      assert.strictEqual((yield* pay(randomUUID())).status, 200)
      assert.strictEqual((yield* pay(once)).status, 422)
      // One in flight, none queued: of two at once, one is refused.
      yield* processor.admin.setDelay({ payload: { delay: 100 } }).pipe(Effect.orDie)
      const together = yield* Effect.all([pay(randomUUID()), pay(randomUUID())], { concurrency: "unbounded" })
      assert.sameMembers(
        together.map((answer) => answer.status),
        [200, 429]
      )
      yield* processor.admin.setDelay({ payload: { delay: 0 } }).pipe(Effect.orDie)
      yield* processor.admin.setFailure({ payload: { failure: true } }).pipe(Effect.orDie)
      assert.strictEqual((yield* pay(randomUUID())).status, 500)
      // One window now, two waiting for the next ones, the fourth refused.
      const health = yield* Effect.all(
        Array.from({ length: 4 }, () => rawRequest(port, { method: "GET", path: "/payments/service-health" })),
        { concurrency: "unbounded" }
      )
      assert.sameMembers(
        health.map((answer) => answer.status),
        [200, 200, 200, 429]
      )

      const scraped = yield* scrape(metricsPort)
      const payments = (result: string) => seriesValue(scraped, "processor_payments_total", { result })
      const healthCalls = (result: string) => seriesValue(scraped, "processor_health_calls_total", { result })
      assert.deepStrictEqual(
        { processed: payments("processed"), duplicate: payments("duplicate"), failing: payments("failing") },
        { processed: 3, duplicate: 1, failing: 1 }
      )
      assert.deepStrictEqual(yield* processor.admin.stats().pipe(Effect.orDie), {
        healthCalls: healthCalls("answered"),
        healthRejected: healthCalls("refused"),
        paymentsRejected: payments("overloaded")
      })
      assert.deepStrictEqual([healthCalls("answered"), healthCalls("refused"), payments("overloaded")], [3, 1, 1])
      // The admin routes are prefixed: their template is the full path.
      assert.strictEqual(countOf(scraped, requestSeconds, route("PUT", "/admin/configurations/delay", 200)), 2)
      assert.strictEqual(countOf(scraped, requestSeconds, route("POST", "/payments", 429)), 1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
  )
})
