/**
 * Prometheus for the stack without Docker (`--observe`): Debian's package,
 * run as a plain process with a config made from the compose profile's
 * (docker/observability/prometheus/prometheus.yml: the same job, the same
 * `instance` names, so the dashboards' queries read both), its targets the
 * APIs' local METRICS_PORTs; and the contest report's server-side panels,
 * read from its HTTP query API over the run's window.
 */

import { readFile } from "node:fs/promises"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"
import { parse } from "yaml"
import { repositoryRoot } from "../../local/Processes.ts"
import * as Apt from "./Apt.ts"
import type { ServiceName } from "./Bundle.ts"

/** The Prometheus binary, installing Debian's package when possible. */
export const ensure = Apt.required({
  package: "prometheus",
  candidates: ["prometheus", "/usr/bin/prometheus", "/usr/local/bin/prometheus"],
  versionArgs: ["--version"]
})

/**
 * Seconds between scrapes unless a run says otherwise: short, so a
 * four-minute contest run is some 240 points per series and a burst is not
 * averaged away. The compose profile scrapes every 5 s, as a deployment
 * would; `--scrape-interval 5` measures what metrics cost there.
 */
export const defaultScrapeSeconds = 1

/** What the runtime sampler is set to under `--observe`: one sample per scrape. */
export const sampleIntervalOf = (scrapeSeconds: number) => `${scrapeSeconds} seconds`

export const composeConfigPath = join(repositoryRoot, "docker", "observability", "prometheus", "prometheus.yml")

const StaticConfig = Schema.Struct({
  targets: Schema.Array(Schema.String),
  labels: Schema.optional(Schema.Record(Schema.String, Schema.String))
})

const ScrapeConfig = Schema.Struct({
  job_name: Schema.String,
  metrics_path: Schema.optional(Schema.String),
  static_configs: Schema.Array(StaticConfig)
})

/** The part of a prometheus.yml this harness reads and rewrites. */
const Config = Schema.Struct({
  global: Schema.optional(Schema.Record(Schema.String, Schema.String)),
  scrape_configs: Schema.Array(ScrapeConfig)
})

/**
 * The compose profile's config for this machine: each `host:port` target
 * becomes `127.0.0.1:<that API's METRICS_PORT>`, labelled `instance: host`
 * (compose's instance is `api01:9464`; the host name alone reads better and
 * matches nothing less), and every job is scraped each `scrapeSeconds`.
 * Written as JSON, which is YAML.
 */
export const localConfig = (
  composeConfig: string,
  metricsPorts: Readonly<Record<string, number>>,
  scrapeSeconds: number,
  /** APIs running with their metrics off (`--observe-only`): their targets are left out. */
  unobserved: ReadonlyArray<string> = []
) => {
  const config = Schema.decodeUnknownSync(Config)(parse(composeConfig))
  return JSON.stringify(
    {
      global: { ...config.global, scrape_interval: `${scrapeSeconds}s`, evaluation_interval: `${scrapeSeconds}s` },
      scrape_configs: config.scrape_configs.map((job) => ({
        ...job,
        static_configs: job.static_configs.flatMap((group) =>
          group.targets.flatMap((target) => {
            const host = target.split(":")[0] ?? target
            if (unobserved.includes(host)) return []
            const port = metricsPorts[host]
            if (port === undefined) throw new Error(`prometheus.yml scrapes ${host}, which the stack does not run`)
            return [{ targets: [`127.0.0.1:${port}`], labels: { ...group.labels, instance: host } }]
          })
        )
      }))
    },
    null,
    2
  )
}

/** The arguments Prometheus runs with: the compose profile's (remote write on, for k6), on 127.0.0.1. */
export const commandLine = (configFile: string, dataDir: string, port: number) => [
  `--config.file=${configFile}`,
  `--storage.tsdb.path=${dataDir}`,
  `--web.listen-address=127.0.0.1:${port}`,
  "--web.enable-remote-write-receiver"
]

/** What Prometheus prints once it answers queries. */
export const ready = /Server is ready to receive web requests/

export const readComposeConfig = Effect.promise(() => readFile(composeConfigPath, "utf8"))

// --- the query API ------------------------------------------------------------

/** A sample's value: a decimal, or Prometheus's `NaN`, `+Inf`, `-Inf`. */
const SampleValue = Schema.String.pipe(
  Schema.decodeTo(
    Schema.Number,
    SchemaTransformation.transform({
      decode: (text) => (text === "+Inf" ? Infinity : text === "-Inf" ? -Infinity : Number(text)),
      encode: (value) => (value === Infinity ? "+Inf" : value === -Infinity ? "-Inf" : String(value))
    })
  )
)

const RangeSeries = Schema.Struct({
  metric: Schema.Record(Schema.String, Schema.String),
  /** [unix seconds, value] */
  values: Schema.Array(Schema.Tuple([Schema.Number, SampleValue]))
})
export type RangeSeries = typeof RangeSeries.Type

/** `/api/v1/query_range`'s answer (https://prometheus.io/docs/prometheus/latest/querying/api/). */
export const RangeAnswer = Schema.Union([
  Schema.Struct({
    status: Schema.Literal("success"),
    data: Schema.Struct({ resultType: Schema.Literal("matrix"), result: Schema.Array(RangeSeries) })
  }),
  Schema.Struct({ status: Schema.Literal("error"), errorType: Schema.String, error: Schema.String })
])

export interface Window {
  /** Unix ms. */
  readonly start: number
  readonly end: number
}

const rangeUrl = (prometheus: string, query: string, window: Window, stepSeconds: number) =>
  `${prometheus}/api/v1/query_range?${new URLSearchParams({
    query,
    start: String(window.start / 1000),
    end: String(window.end / 1000),
    step: `${stepSeconds}s`
  })}`

/** Decodes one answer of the query API: the series, or why Prometheus refused the query. */
export const decodeRange = (query: string, body: unknown) =>
  Schema.decodeUnknownEffect(RangeAnswer)(body).pipe(
    Effect.mapError((error) => new Error(`Prometheus's answer to ${query} is not a range query's: ${error}`)),
    Effect.flatMap((answer) =>
      answer.status === "success"
        ? Effect.succeed(answer.data.result)
        : Effect.fail(new Error(`Prometheus refused ${query}: ${answer.errorType}: ${answer.error}`))
    )
  )

/** One range query, a point every `stepSeconds` (the scrape interval: there is nothing between). */
export const queryRange = (prometheus: string, query: string, window: Window, stepSeconds: number) =>
  Effect.tryPromise({
    try: () => fetch(rangeUrl(prometheus, query, window, stepSeconds)).then((response) => response.json()),
    catch: (cause) => new Error(`Prometheus at ${prometheus} did not answer ${query}`, { cause })
  }).pipe(Effect.flatMap((body) => decodeRange(query, body)))

// --- the report's panels ------------------------------------------------------

export type Unit = "per second" | "seconds" | "ratio" | "count"

export interface Panel {
  readonly title: string
  readonly query: string
  readonly unit: Unit
  /** The label that names each series in the legend. */
  readonly by: string
  /** Left out of the report when no series answers (a metric not every service, or not yet, writes). */
  readonly optional: boolean
}

/** What the report shows of the APIs, for both services; `rate` over five scrapes, so it has points to work with. */
const platformPanels = (scrapeSeconds: number): ReadonlyArray<Panel> => {
  const rateWindow = `${5 * scrapeSeconds}s`
  return [
    {
      title: "Requests per second, by route",
      query: `sum by (route) (rate(http_server_request_duration_seconds_count[${rateWindow}]))`,
      unit: "per second",
      by: "route",
      optional: false
    },
    {
      title: "p99 by route (server side)",
      query: `histogram_quantile(0.99, sum by (route, le) (rate(http_server_request_duration_seconds_bucket[${rateWindow}])))`,
      unit: "seconds",
      by: "route",
      optional: false
    },
    {
      title: "Database calls that waited for a pooled connection",
      query: `sum by (instance) (rate(db_pool_waits_total[${rateWindow}])) / sum by (instance) (rate(db_call_duration_seconds_count[${rateWindow}]))`,
      unit: "ratio",
      by: "instance",
      optional: false
    },
    {
      title: "Database call p99",
      query: `histogram_quantile(0.99, sum by (instance, le) (rate(db_call_duration_seconds_bucket[${rateWindow}])))`,
      unit: "seconds",
      by: "instance",
      optional: false
    },
    {
      title: "Event-loop delay p99",
      query: "max by (instance) (nodejs_eventloop_lag_p99_seconds)",
      unit: "seconds",
      by: "instance",
      optional: false
    }
  ]
}

/**
 * Payments' dispatch queue: the gauge `payments_dispatch_queued` (payments
 * waiting to be sent to a processor, per API instance; src/Payments/Metrics.ts).
 * Optional: a Payments build without it (an older image) still gets a report.
 */
const paymentsPanels: ReadonlyArray<Panel> = [
  {
    title: "Payments queued for dispatch",
    query: "sum by (instance) (payments_dispatch_queued)",
    unit: "count",
    by: "instance",
    optional: true
  }
]

export const panelsOf = (service: ServiceName, scrapeSeconds: number): ReadonlyArray<Panel> =>
  service === "payments" ? [...platformPanels(scrapeSeconds), ...paymentsPanels] : platformPanels(scrapeSeconds)

export interface PanelSeries {
  readonly name: string
  /** [seconds since the window's start, value], non-finite values left out. */
  readonly points: ReadonlyArray<readonly [number, number]>
}

export interface PanelAnswer {
  readonly title: string
  readonly query: string
  readonly unit: Unit
  readonly series: ReadonlyArray<PanelSeries>
}

/** A panel from its query's answer; none when optional and nothing answered. */
export const panelFrom = (
  panel: Panel,
  window: Window,
  result: ReadonlyArray<RangeSeries>
): ReadonlyArray<PanelAnswer> => {
  const series = result
    .map((one) => ({
      name: one.metric[panel.by] ?? "all",
      points: one.values.flatMap(([at, value]) =>
        Number.isFinite(value) ? [[Number((at - window.start / 1000).toFixed(3)), value] as const] : []
      )
    }))
    .filter((one) => one.points.length > 0)
    .sort((a, b) => a.name.localeCompare(b.name))
  if (series.length === 0 && panel.optional) return []
  return [{ title: panel.title, query: panel.query, unit: panel.unit, series }]
}

/** Every panel of `service` over `window`, each from its own query. */
export const panels = (prometheus: string, service: ServiceName, window: Window, scrapeSeconds: number) =>
  Effect.forEach(panelsOf(service, scrapeSeconds), (panel) =>
    Effect.map(queryRange(prometheus, panel.query, window, scrapeSeconds), (result) => panelFrom(panel, window, result))
  ).pipe(Effect.map((answers) => answers.flat()))
