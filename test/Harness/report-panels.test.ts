import { readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { ServiceName } from "../../scripts/lib/Bundle.ts"
import * as Prometheus from "../../scripts/lib/Prometheus.ts"
import * as Report from "../../scripts/lib/Report.ts"

/**
 * Prometheus 2.42's answers to each panel's query, recorded over twelve
 * seconds of traffic through `npm run stack -- --observe` (and
 * `stack:payments`), keyed by the query: a panel whose query changes finds
 * no answer here, and must be recorded again against a real Prometheus.
 */
const Recording = Schema.Struct({
  window: Schema.Struct({ start: Schema.Number, end: Schema.Number }),
  answers: Schema.Record(Schema.String, Schema.Unknown)
})

const recording = (service: ServiceName) =>
  Schema.decodeUnknownSync(Recording)(
    JSON.parse(readFileSync(join(import.meta.dirname, "fixtures", `prometheus-${service}.json`), "utf8"))
  )

/** The report's panels as `Prometheus.panels` makes them, from the recorded answers. */
const recordedPanels = (service: ServiceName) =>
  Effect.gen(function* () {
    const { answers, window } = recording(service)
    const panels = yield* Effect.forEach(Prometheus.panelsOf(service, Prometheus.defaultScrapeSeconds), (panel) => {
      const answer = answers[panel.query]
      assert.isDefined(answer, `no recorded answer to ${panel.query}`)
      return Effect.map(Prometheus.decodeRange(panel.query, answer), (result) =>
        Prometheus.panelFrom(panel, window, result)
      )
    })
    return panels.flat()
  })

const panelTitled = (panels: ReadonlyArray<Prometheus.PanelAnswer>, title: string) => {
  const panel = panels.find((one) => one.title === title)
  assert.isDefined(panel, `${title} among ${panels.map((one) => one.title).join(", ")}`)
  return panel ?? { title, query: "", unit: "count", series: [] }
}

const seriesNames = (panel: Prometheus.PanelAnswer) => panel.series.map((series) => series.name)

const mean = (series: Prometheus.PanelSeries) =>
  series.points.reduce((sum, [, value]) => sum + value, 0) / series.points.length

describe("the contest report's server-side panels", () => {
  it.effect("Crébitos: requests/s and p99 by route, pool waits and database p99 per instance, event-loop delay", () =>
    Effect.gen(function* () {
      const panels = yield* recordedPanels("crebitos")
      assert.deepStrictEqual(
        panels.map((panel) => panel.title),
        [
          "Requests per second, by route",
          "p99 by route (server side)",
          "Database calls that waited for a pooled connection",
          "Database call p99",
          "Event-loop delay p99"
        ]
      )
      const rates = panelTitled(panels, "Requests per second, by route")
      assert.includeMembers(seriesNames(rates), ["/clientes/:id/extrato", "/clientes/:id/transacoes"])
      // The recording sent two transactions per statement.
      const perRoute = new Map(rates.series.map((series) => [series.name, mean(series)]))
      assert.isAbove(perRoute.get("/clientes/:id/transacoes") ?? 0, perRoute.get("/clientes/:id/extrato") ?? 0)
      for (const title of ["Database call p99", "Event-loop delay p99"]) {
        assert.deepStrictEqual(seriesNames(panelTitled(panels, title)), ["api01", "api02"])
      }
      const p99 = panelTitled(panels, "p99 by route (server side)")
      for (const series of p99.series) {
        for (const [at, seconds] of series.points) {
          assert.isAtLeast(at, 0)
          assert.isTrue(seconds > 0 && seconds < 2, `${series.name} p99 ${seconds} s`)
        }
      }

      const markdown = Report.serverSideMarkdown(panels)
      assert.include(markdown, "### p99 by route (server side)")
      assert.include(markdown, `\`${p99.query}\``)
      assert.match(markdown, /\| \/clientes\/:id\/transacoes \| \d+\.\d\/s \| \d+\.\d\/s \| \d+ \|/)
      assert.match(markdown, /\| api01 \| \d+\.\d+ ms \| \d+\.\d+ ms \| \d+ \|/)
      const html = Report.serverSideHtml(panels)
      assert.strictEqual(html.match(/<svg /g)?.length, panels.length)
      assert.include(html, "<h3>Requests per second, by route</h3>")
      assert.include(html, "/clientes/:id/transacoes</text>")
    })
  )

  it.effect("Payments: the platform's panels; the dispatch queue's is left out while no series answers it", () =>
    Effect.gen(function* () {
      const panels = yield* recordedPanels("payments")
      const titles = panels.map((panel) => panel.title)
      assert.deepStrictEqual(
        titles,
        (yield* recordedPanels("crebitos")).map((panel) => panel.title),
        "the platform's panels, and no queue"
      )
      assert.includeMembers(seriesNames(panelTitled(panels, "Requests per second, by route")), ["/payments"])
      assert.notInclude(Report.serverSideMarkdown(panels), "Payments queued")
    })
  )

  it.effect("a panel that is not optional shows that nothing answered; Prometheus's refusal is an error", () =>
    Effect.gen(function* () {
      const window = { start: 0, end: 1000 }
      const panel = (optional: boolean): Prometheus.Panel => ({
        title: "t",
        query: "q",
        unit: "count",
        by: "instance",
        optional
      })
      const empty = Prometheus.panelFrom(panel(false), window, [])
      assert.deepStrictEqual(empty, [{ title: "t", query: "q", unit: "count", series: [] }])
      assert.include(Report.serverSideMarkdown(empty), "No series answered.")
      assert.deepStrictEqual(Prometheus.panelFrom(panel(true), window, []), [])
      // The API's documented error shape (prometheus.io/docs/prometheus/latest/querying/api/#format-overview).
      const refused = yield* Effect.flip(
        Prometheus.decodeRange("rate(x[5s]", {
          status: "error",
          errorType: "bad_data",
          error: 'invalid parameter "query": 1:11: parse error: unclosed left parenthesis'
        })
      )
      assert.include(refused.message, "bad_data: invalid parameter")
      const garbled = yield* Effect.flip(
        Prometheus.decodeRange("up", { status: "success", data: { resultType: "vector", result: [] } })
      )
      assert.include(garbled.message, "is not a range query's")
    })
  )
})
