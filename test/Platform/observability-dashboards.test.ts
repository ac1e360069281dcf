import { readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { freePort, repositoryRoot } from "../../local/Processes.ts"
import type { ServiceName } from "../../scripts/lib/Bundle.ts"
import * as Compose from "../../scripts/lib/Compose.ts"
import * as Prometheus from "../../scripts/lib/Prometheus.ts"
import { composePath } from "../../scripts/lib/Stack.ts"
import { crebitosTest } from "../support/Crebitos.ts"
import { metricNames, mountedDashboards, readDashboard } from "../support/Dashboards.ts"
import { rawRequest, serverPort } from "../support/Http.ts"
import { collectGarbage, type Scrape, scrape } from "../support/Metrics.ts"
import { environment, instance, newPayment, pay } from "../support/Payments.ts"

/**
 * k6's built-in metrics (grafana.com/docs/k6/latest/using-k6/metrics/reference/)
 * by type: what `-o experimental-prometheus-rw` names `k6_<name>_total`
 * (counters), `k6_<name>` (gauges), `k6_<name>_rate` (rates) and
 * `k6_<name>_<stat>` (trends, one series per K6_PROMETHEUS_RW_TREND_STATS stat).
 */
const k6BuiltIns = {
  Counter: ["http_reqs", "iterations", "data_sent", "data_received", "dropped_iterations"],
  Gauge: ["vus", "vus_max"],
  Rate: ["http_req_failed", "checks"],
  Trend: [
    "http_req_duration",
    "http_req_blocked",
    "http_req_connecting",
    "http_req_tls_handshaking",
    "http_req_sending",
    "http_req_waiting",
    "http_req_receiving",
    "iteration_duration"
  ]
} as const
type K6Type = keyof typeof k6BuiltIns

const isK6Type = (word: string): word is K6Type => Object.hasOwn(k6BuiltIns, word)

/** The metrics a k6 script declares itself (`new Counter("name")` and the like). */
const k6CustomMetrics = (script: string): ReadonlyArray<readonly [K6Type, string]> =>
  [...readFileSync(script, "utf8").matchAll(/new (\w+)\("([a-zA-Z0-9_]+)"/g)].flatMap(([, type = "", name = ""]) =>
    isK6Type(type) ? [[type, name] as const] : []
  )

/** `p(99)` → `p99`, as the output suffixes a trend's series. */
const trendSuffix = (stat: string) => stat.replace(/^p\((\d+(?:\.\d+)?)\)$/, "p$1").replace(".", "")

/** Every series the compose file's k6 run writes to Prometheus. */
const k6Series = (service: ServiceName, k6: Compose.ProfiledService) => {
  const stats = (k6.environment?.K6_PROMETHEUS_RW_TREND_STATS ?? "p(99)").split(",").map(trendSuffix)
  const seriesOf: Record<K6Type, (name: string) => ReadonlyArray<string>> = {
    Counter: (name) => [`k6_${name}_total`],
    Gauge: (name) => [`k6_${name}`],
    Rate: (name) => [`k6_${name}_rate`],
    Trend: (name) => stats.map((stat) => `k6_${name}_${stat}`)
  }
  const builtIns = Object.entries(k6BuiltIns).flatMap(([type, names]) =>
    isK6Type(type) ? names.map((name) => [type, name] as const) : []
  )
  return [...builtIns, ...k6CustomMetrics(join(repositoryRoot, "k6", `${service}.ts`))].flatMap(([type, name]) =>
    seriesOf[type](name)
  )
}

/** Series Prometheus writes itself for every scrape target. */
const prometheusSeries = ["up", "scrape_duration_seconds", "scrape_samples_scraped"]

/** Scrapes until the runtime's series are there too (they come with the first sample and the first GC). */
const fullScrape = (port: number) =>
  Effect.gen(function* () {
    assert.strictEqual(collectGarbage(), 1_000_000)
    return yield* scrape(port).pipe(
      Effect.repeat({
        until: (now) =>
          ["nodejs_gc_duration_seconds_count", "nodejs_eventloop_lag_p99_seconds"].every((name) =>
            now.samples.some((sample) => sample.name === name)
          ),
        schedule: Schedule.spaced("50 millis")
      }),
      Effect.timeout("10 seconds")
    )
  })

const observedEnv = (metricsPort: number) => ({
  METRICS_PORT: String(metricsPort),
  // Longer than the event-loop monitor's 100 ms, so each interval holds a tick of it.
  METRICS_SAMPLE_INTERVAL: "250 millis",
  WARMUP_REQUESTS: "0"
})

/** A real Crébitos scrape, after traffic through every route. */
const crebitosScrape = Effect.gen(function* () {
  const metricsPort = yield* freePort
  const context = yield* Layer.build(crebitosTest(observedEnv(metricsPort)))
  const port = yield* serverPort.pipe(Effect.provide(context))
  const json = { "content-type": "application/json" }
  const body = JSON.stringify({ valor: 1, tipo: "c", descricao: "painel" })
  yield* rawRequest(port, { method: "POST", path: "/clientes/1/transacoes", headers: json, body })
  yield* rawRequest(port, { method: "GET", path: "/clientes/1/extrato" })
  return yield* fullScrape(metricsPort)
})

/** A real Payments scrape, after a payment and a summary. */
const paymentsScrape = Effect.gen(function* () {
  const metricsPort = yield* freePort
  const env = yield* environment()
  const service = yield* instance(env, observedEnv(metricsPort))
  yield* pay(service, newPayment())
  yield* service.client.payments.summary({ query: {} }).pipe(Effect.orDie)
  return yield* fullScrape(metricsPort)
}).pipe(Effect.provide(FetchHttpClient.layer))

const scrapes: Readonly<Record<ServiceName, Effect.Effect<Scrape, unknown, import("effect/Scope").Scope>>> = {
  crebitos: crebitosScrape,
  payments: paymentsScrape
}

describe.each(["crebitos", "payments"] as const)("docker/%s: the observability profile's dashboards", (service) => {
  it.live("every panel's query is PromQL naming only series the services, k6 or Prometheus write", () =>
    Effect.gen(function* () {
      const compose = yield* Compose.load(composePath(service), {})
      const { grafana, k6 } = compose.profiled
      assert.isDefined(grafana)
      assert.isDefined(k6)
      if (grafana === undefined || k6 === undefined) return
      const scraped = yield* scrapes[service]
      const written = new Set([
        ...scraped.samples.map((sample) => sample.name),
        ...k6Series(service, k6),
        ...prometheusSeries
      ])
      const dashboards = mountedDashboards(compose, grafana)
      assert.isNotEmpty(dashboards)
      for (const path of dashboards) {
        const dashboard = readDashboard(path)
        assert.isNotEmpty(dashboard.panels, path)
        for (const panel of dashboard.panels) {
          assert.isNotEmpty(panel.targets, `${dashboard.title} / ${panel.title}`)
          for (const target of panel.targets) {
            const names = metricNames(target.expr)
            assert.isNotEmpty(names, `${panel.title}: ${target.expr}`)
            for (const name of names) {
              assert.isTrue(written.has(name), `${dashboard.title} / ${panel.title}: nothing writes ${name}`)
            }
          }
        }
      }
    }).pipe(Effect.scoped)
  )

  it.live("every server-side panel of the contest report names only series the service writes", () =>
    Effect.gen(function* () {
      const written = new Set((yield* scrapes[service]).samples.map((sample) => sample.name))
      for (const panel of Prometheus.panelsOf(service, Prometheus.defaultScrapeSeconds)) {
        const names = metricNames(panel.query)
        assert.isNotEmpty(names, panel.query)
        for (const name of names) {
          assert.isTrue(written.has(name), `${panel.title}: nothing writes ${name}`)
        }
      }
    }).pipe(Effect.scoped)
  )
})
