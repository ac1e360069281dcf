/**
 * A contest run's report: summary.json (everything, for machines),
 * summary.md (the tables), and index.html — the same tables plus a
 * latency-over-time and a latency-by-percentile plot, inline SVG so the page
 * opens anywhere without a network; with `--observe`, beside k6's view,
 * what the APIs measured of themselves (Prometheus's panels).
 */

import { writeFile } from "node:fs/promises"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import type { Limit } from "./Compose.ts"
import type { PanelAnswer, Unit } from "./Prometheus.ts"
import type { Second, Stats } from "./Samples.ts"

export interface ServiceReport {
  readonly name: string
  readonly limit: Limit
  readonly capped: boolean
  /** How long it was measured for. */
  readonly seconds: number
  readonly cpuSeconds: number
  readonly peakRssBytes: number
  readonly peakChargedBytes: number
  readonly throttledPeriods: number
}

export interface Summary {
  readonly title: string
  readonly run: Readonly<Record<string, string | number | boolean>>
  readonly verdict: { readonly passed: boolean; readonly reasons: ReadonlyArray<string> }
  readonly requests: number
  readonly ko: number
  readonly inconsistencies: {
    readonly duringLoad: number
    readonly audit: number
    readonly details: ReadonlyArray<string>
  }
  readonly reqPerSecond: number
  readonly overall: Stats
  readonly scenarios: Readonly<Record<string, Stats>>
  readonly services: ReadonlyArray<ServiceReport>
  readonly timeline: ReadonlyArray<Second>
  readonly distribution: ReadonlyArray<{ readonly fraction: number; readonly ms: number }>
  /** A service's own results (a score, totals per processor), shown first. */
  readonly sections?: ReadonlyArray<Section>
  /** What the APIs measured of themselves over the load, from Prometheus (`--observe`). */
  readonly serverSide?: ReadonlyArray<PanelAnswer>
  /** Other pages of the report folder, linked at the end (k6's own dashboard). */
  readonly attachments?: ReadonlyArray<{ readonly file: string; readonly label: string }>
}

export interface Section {
  readonly title: string
  readonly header: ReadonlyArray<string>
  readonly rows: ReadonlyArray<ReadonlyArray<string>>
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)}MB`
const ms = (value: number) => `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms`

const statsHeader = ["", "requests", "KO", "< 250 ms", "p50", "p75", "p95", "p99", "max"]
const statsRow = (name: string, s: Stats) => [
  name,
  String(s.requests),
  String(s.ko),
  `${s.goodPct.toFixed(2)}%`,
  ms(s.p50),
  ms(s.p75),
  ms(s.p95),
  ms(s.p99),
  ms(s.max)
]

const servicesHeader = [
  "service",
  "limit",
  "CPU seconds",
  "CPU % of limit",
  "peak RSS",
  "% of limit",
  "peak charged",
  "throttled periods"
]
const serviceRow = (s: ServiceReport) => [
  s.name,
  s.capped ? `${s.limit.cpus} CPU, ${mb(s.limit.memoryBytes)}` : "uncapped",
  s.cpuSeconds.toFixed(1),
  `${((100 * s.cpuSeconds) / (s.limit.cpus * s.seconds)).toFixed(0)}%`,
  mb(s.peakRssBytes),
  `${((100 * s.peakRssBytes) / s.limit.memoryBytes).toFixed(0)}%`,
  mb(s.peakChargedBytes),
  String(s.throttledPeriods)
]

const valueIn = (unit: Unit, value: number) => {
  switch (unit) {
    case "per second":
      return `${value.toFixed(1)}/s`
    case "seconds":
      return ms(value * 1000)
    case "ratio":
      return `${(value * 100).toFixed(2)}%`
    case "count":
      return value.toFixed(value < 10 ? 1 : 0)
  }
}

const panelHeader = ["series", "mean", "max", "points"]

/** Each series of a panel in one row: its mean and maximum over the load. */
const panelRows = (panel: PanelAnswer) =>
  panel.series.map((series) => {
    const values = series.points.map(([, value]) => value)
    const mean = values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length)
    return [series.name, valueIn(panel.unit, mean), valueIn(panel.unit, Math.max(...values)), String(values.length)]
  })

const serverSideIntro =
  "What the APIs measured of themselves, scraped by Prometheus every second over the load (PromQL under each panel)."

/** The server-side panels, in Markdown: a table of each panel's series, its query above it. */
export const serverSideMarkdown = (panels: ReadonlyArray<PanelAnswer>) => `
## Server side

${serverSideIntro}
${panels
  .map(
    (panel) =>
      `\n### ${panel.title}\n\n\`${panel.query}\`\n\n${panel.series.length === 0 ? "No series answered." : markdownTable(panelHeader, panelRows(panel))}\n`
  )
  .join("")}`

export const markdownTable = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>) =>
  [header, header.map(() => "---"), ...rows].map((cells) => `| ${cells.join(" | ")} |`).join("\n")

const escapeHtml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

const htmlTable = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>) =>
  `<table><thead><tr>${header.map((cell) => `<th>${escapeHtml(cell)}</th>`).join("")}</tr></thead><tbody>${rows
    .map((cells) => `<tr>${cells.map((cell) => `<td>${escapeHtml(cell)}</td>`).join("")}</tr>`)
    .join("")}</tbody></table>`

export const markdown = (summary: Summary) => `# ${summary.title}

**${summary.verdict.passed ? "PASSED" : "FAILED"}**${summary.verdict.reasons.map((reason) => `\n- ${reason}`).join("")}

${Object.entries(summary.run)
  .map(([key, value]) => `- ${key}: ${value}`)
  .join("\n")}

Requests ${summary.requests}, KO ${summary.ko}, ${summary.reqPerSecond.toFixed(1)} req/s;
inconsistencies: ${summary.inconsistencies.duringLoad} seen during the load, ${summary.inconsistencies.audit} in the final audit.
${summary.inconsistencies.details.map((detail) => `- ${detail}`).join("\n")}
${(summary.sections ?? []).map((section) => `\n## ${section.title}\n\n${markdownTable(section.header, section.rows)}\n`).join("")}
## Latency

${markdownTable(statsHeader, [statsRow("all", summary.overall), ...Object.entries(summary.scenarios).map(([name, s]) => statsRow(name, s))])}

## Services

${markdownTable(servicesHeader, summary.services.map(serviceRow))}
${summary.serverSide === undefined ? "" : serverSideMarkdown(summary.serverSide)}`

// --- plots --------------------------------------------------------------------

const width = 900
const height = 320
const margin = { left: 60, right: 20, top: 20, bottom: 40 }
const plotWidth = width - margin.left - margin.right
const plotHeight = height - margin.top - margin.bottom

/**
 * Log scale for latencies: 0.1 ms at the bottom; at the top the worst case
 * rounded up to a power of ten, and never below 1 s so the contest's 250 ms
 * line is always in sight.
 */
const logScale = (maxMs: number) => {
  const top = 10 ** Math.ceil(Math.log10(Math.max(maxMs, 1000)))
  const bottom = 0.1
  const y = (value: number) =>
    margin.top +
    plotHeight *
      (1 - (Math.log10(Math.max(value, bottom)) - Math.log10(bottom)) / (Math.log10(top) - Math.log10(bottom)))
  const ticks: Array<number> = []
  for (let tick = bottom; tick <= top; tick *= 10) ticks.push(tick)
  return { y, ticks }
}

const yAxis = (ticks: ReadonlyArray<number>, y: (value: number) => number) =>
  ticks
    .map(
      (tick) =>
        `<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(tick)}" y2="${y(tick)}" class="grid"/>` +
        `<text x="${margin.left - 6}" y="${y(tick) + 4}" text-anchor="end">${tick < 1 ? tick : tick.toLocaleString("en")} ms</text>`
    )
    .join("") +
  `<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${y(250)}" y2="${y(250)}" class="limit"/>` +
  `<text x="${margin.left + plotWidth - 4}" y="${y(250) - 4}" text-anchor="end" class="limit-label">250 ms</text>`

const polyline = (points: ReadonlyArray<readonly [number, number]>, className: string) =>
  `<polyline class="${className}" points="${points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" ")}"/>`

const legend = (entries: ReadonlyArray<readonly [string, string]>) =>
  entries
    .map(
      ([className, label], index) =>
        `<line x1="${margin.left + 10 + index * 110}" x2="${margin.left + 34 + index * 110}" y1="${margin.top + 8}" y2="${margin.top + 8}" class="${className}"/>` +
        `<text x="${margin.left + 38 + index * 110}" y="${margin.top + 12}">${label}</text>`
    )
    .join("")

const latencyOverTime = (timeline: ReadonlyArray<Second>) => {
  if (timeline.length === 0) return "<p>No requests.</p>"
  const first = timeline[0]?.second ?? 0
  const last = timeline.at(-1)?.second ?? first
  const span = Math.max(1, last - first)
  const x = (second: number) => margin.left + (plotWidth * (second - first)) / span
  const { ticks, y } = logScale(Math.max(...timeline.map((point) => point.max)))
  const seconds = Array.from({ length: 7 }, (_, i) => Math.round((span * i) / 6))
  return `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="Latency over time">
${yAxis(ticks, y)}
${seconds.map((s) => `<text x="${x(first + s)}" y="${height - 20}" text-anchor="middle">${s} s</text>`).join("")}
${polyline(
  timeline.map((point) => [x(point.second), y(point.max)] as const),
  "max"
)}
${polyline(
  timeline.map((point) => [x(point.second), y(point.p99)] as const),
  "p99"
)}
${polyline(
  timeline.map((point) => [x(point.second), y(point.p50)] as const),
  "p50"
)}
${timeline
  .filter((point) => point.ko > 0)
  .map(
    (point) =>
      `<circle cx="${x(point.second)}" cy="${margin.top + plotHeight}" r="4" class="ko"><title>${point.ko} KO</title></circle>`
  )
  .join("")}
${legend([
  ["p50", "p50"],
  ["p99", "p99"],
  ["max", "max"]
])}
<text x="${margin.left + plotWidth / 2}" y="${height - 4}" text-anchor="middle">time since the first request (each point: one second)</text>
</svg>`
}

const latencyByPercentile = (distribution: ReadonlyArray<{ readonly fraction: number; readonly ms: number }>) => {
  if (distribution.length === 0) return "<p>No requests.</p>"
  // "Nines" axis: 0, 90, 99, 99.9, 99.99% evenly spaced, as latency plots usually are.
  const nines = (fraction: number) => -Math.log10(Math.max(1 - fraction, 1e-5))
  const x = (fraction: number) => margin.left + (plotWidth * nines(fraction)) / 5
  const { ticks, y } = logScale(Math.max(...distribution.map((point) => point.ms)))
  const labels = [
    [0, "0%"],
    [0.5, "50%"],
    [0.9, "90%"],
    [0.99, "99%"],
    [0.999, "99.9%"],
    [0.9999, "99.99%"],
    [0.99999, "99.999%"]
  ] as const
  return `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="Latency by percentile">
${yAxis(ticks, y)}
${labels.map(([fraction, label]) => `<text x="${x(fraction)}" y="${height - 20}" text-anchor="middle">${label}</text>`).join("")}
${polyline(
  distribution.map((point) => [x(point.fraction), y(point.ms)] as const),
  "p99"
)}
${distribution.map((point) => `<circle cx="${x(point.fraction)}" cy="${y(point.ms)}" r="3" class="dot"><title>p${(point.fraction * 100).toPrecision(6)}: ${point.ms.toFixed(2)} ms</title></circle>`).join("")}
<text x="${margin.left + plotWidth / 2}" y="${height - 4}" text-anchor="middle">percentile (log of 1 − p: each step is one more nine)</text>
</svg>`
}

const palette = ["#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#c62828", "#00838f", "#9e9d24", "#5d4037"]

/** One panel's series over time, on a linear scale from 0. */
const panelPlot = (panel: PanelAnswer) => {
  const points = panel.series.flatMap((series) => series.points)
  if (points.length === 0) return "<p>No series answered.</p>"
  const span = Math.max(1, ...points.map(([at]) => at))
  const top = Math.max(...points.map(([, value]) => value)) * 1.1 || 1
  const x = (at: number) => margin.left + (plotWidth * at) / span
  const y = (value: number) => margin.top + plotHeight * (1 - value / top)
  const ticks = Array.from({ length: 5 }, (_, i) => (top * i) / 4)
  const seconds = Array.from({ length: 7 }, (_, i) => Math.round((span * i) / 6))
  return `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(panel.title)}">
${ticks
  .map(
    (tick) =>
      `<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(tick)}" y2="${y(tick)}" class="grid"/>` +
      `<text x="${margin.left - 6}" y="${y(tick) + 4}" text-anchor="end">${escapeHtml(valueIn(panel.unit, tick))}</text>`
  )
  .join("")}
${seconds.map((s) => `<text x="${x(s)}" y="${height - 20}" text-anchor="middle">${s} s</text>`).join("")}
${panel.series
  .map(
    (series, index) =>
      `<polyline style="stroke: ${palette[index % palette.length]}" points="${series.points.map(([at, value]) => `${x(at).toFixed(1)},${y(value).toFixed(1)}`).join(" ")}"/>` +
      `<line x1="${margin.left + 10}" x2="${margin.left + 34}" y1="${margin.top + 8 + 14 * index}" y2="${margin.top + 8 + 14 * index}" style="stroke: ${palette[index % palette.length]}; stroke-width: 2"/>` +
      `<text x="${margin.left + 38}" y="${margin.top + 12 + 14 * index}">${escapeHtml(series.name)}</text>`
  )
  .join("\n")}
<text x="${margin.left + plotWidth / 2}" y="${height - 4}" text-anchor="middle">time since the load began (each point: one scrape)</text>
</svg>`
}

/** The server-side panels, in HTML: each one plotted over the load, its query and table below. */
export const serverSideHtml = (panels: ReadonlyArray<PanelAnswer>) => `<h2>Server side</h2>
<p>${escapeHtml(serverSideIntro)}</p>
${panels
  .map(
    (panel) =>
      `<h3>${escapeHtml(panel.title)}</h3>\n${panelPlot(panel)}\n<p><code>${escapeHtml(panel.query)}</code></p>\n${panel.series.length === 0 ? "" : htmlTable(panelHeader, panelRows(panel))}`
  )
  .join("\n")}`

const html = (summary: Summary) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(summary.title)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 960px; color: #222 }
h1 { margin-bottom: .2em } .passed { color: #1a7f37 } .failed { color: #c62828 }
table { border-collapse: collapse; margin: .5em 0 1.5em } th, td { padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right }
th:first-child, td:first-child { text-align: left } svg { width: 100%; height: auto; background: #fafafa; border: 1px solid #eee }
svg text { font-size: 11px; fill: #555 } .grid { stroke: #e5e5e5 } .limit { stroke: #c62828; stroke-dasharray: 4 4 }
.limit-label { fill: #c62828 } polyline { fill: none; stroke-width: 1.5 } .p50 { stroke: #1565c0 } .p99 { stroke: #ef6c00 }
.max { stroke: #9e9e9e } .ko { fill: #c62828 } .dot { fill: #ef6c00 } dl { columns: 2 } dt { font-weight: 600 } dd { margin: 0 0 .4em }
</style></head><body>
<h1>${escapeHtml(summary.title)}</h1>
<p class="${summary.verdict.passed ? "passed" : "failed"}"><strong>${summary.verdict.passed ? "PASSED" : "FAILED"}</strong>
${summary.verdict.reasons.map((reason) => `<br>${escapeHtml(reason)}`).join("")}</p>
<p>${summary.requests} requests, <strong>${summary.ko} KO</strong>, ${summary.reqPerSecond.toFixed(1)} req/s,
<strong>${summary.overall.goodPct.toFixed(2)}%</strong> answered as expected under 250 ms;
inconsistencies: <strong>${summary.inconsistencies.duringLoad}</strong> during the load, <strong>${summary.inconsistencies.audit}</strong> in the final audit.</p>
${summary.inconsistencies.details.length > 0 ? `<ul>${summary.inconsistencies.details.map((detail) => `<li>${escapeHtml(detail)}</li>`).join("")}</ul>` : ""}
${(summary.sections ?? []).map((section) => `<h2>${escapeHtml(section.title)}</h2>\n${htmlTable(section.header, section.rows)}`).join("\n")}
<h2>Latency over time</h2>
${latencyOverTime(summary.timeline)}
<h2>Latency by percentile</h2>
${latencyByPercentile(summary.distribution)}
<h2>Latency by scenario</h2>
${htmlTable(statsHeader, [statsRow("all", summary.overall), ...Object.entries(summary.scenarios).map(([name, s]) => statsRow(name, s))])}
<h2>Services</h2>
${htmlTable(servicesHeader, summary.services.map(serviceRow))}
<p>Peak RSS: anonymous plus shared memory of the service's cgroup (PostgreSQL's buffers included, page cache not), sampled every 0.5 s.
Peak charged: the kernel's high-water mark of all memory charged to it, page cache included. CPU % of limit: over the load's duration.</p>
${summary.serverSide === undefined ? "" : serverSideHtml(summary.serverSide)}
<h2>Run</h2>
<dl>${Object.entries(summary.run)
  .map(([key, value]) => `<dt>${escapeHtml(key)}</dt><dd>${escapeHtml(String(value))}</dd>`)
  .join("")}</dl>
${(summary.attachments ?? []).map(({ file, label }) => `<p>${escapeHtml(label)}: <a href="${escapeHtml(file)}">${escapeHtml(file)}</a>.</p>`).join("\n")}
</body></html>
`

export const write = (dir: string, summary: Summary) =>
  Effect.promise(async () => {
    await writeFile(join(dir, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`)
    await writeFile(join(dir, "summary.md"), markdown(summary))
    await writeFile(join(dir, "index.html"), html(summary))
  })
