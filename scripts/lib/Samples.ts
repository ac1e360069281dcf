/**
 * Per-request latencies from k6's CSV output (`-o csv=file.gz`), and the
 * statistics the report shows: exact percentiles per scenario, KO, the share
 * answered as expected within 250 ms, and a per-second timeline.
 */

import { createReadStream } from "node:fs"
import { createInterface } from "node:readline"
import { createGunzip } from "node:zlib"
import * as Arr from "effect/Array"
import * as Effect from "effect/Effect"
import * as Record from "effect/Record"

export interface Sample {
  /** Unix seconds (k6 writes whole seconds). */
  readonly second: number
  readonly scenario: string
  readonly ms: number
  readonly expected: boolean
}

/** Reads the http_req_duration rows of a k6 CSV (gzipped) file. */
export const read = (path: string) =>
  Effect.promise(async () => {
    const lines = createInterface({ input: createReadStream(path).pipe(createGunzip()), crlfDelay: Infinity })
    const samples: Array<Sample> = []
    let columns: Record<string, number> = {}
    for await (const line of lines) {
      const fields = line.split(",")
      if (line.startsWith("metric_name,")) {
        columns = Object.fromEntries(fields.map((name, index) => [name, index]))
        continue
      }
      if (fields[0] !== "http_req_duration") continue
      const at = (name: string) => fields[columns[name] ?? -1] ?? ""
      samples.push({
        second: Number(at("timestamp")),
        // Requests of setup() and teardown() (the Crébitos validations, the
        // Payments purge and final totals) belong to no scenario.
        scenario: at("scenario") || "setup, teardown",
        ms: Number(at("metric_value")),
        expected: at("expected_response") === "true"
      })
    }
    return samples
  })

export interface Stats {
  readonly requests: number
  readonly ko: number
  /** Answered as expected within 250 ms, as a percentage of all requests. */
  readonly goodPct: number
  readonly p50: number
  readonly p75: number
  readonly p95: number
  readonly p99: number
  readonly max: number
}

/** The value below which `fraction` of the sorted values fall (nearest rank). */
export const percentile = (sorted: ReadonlyArray<number>, fraction: number) =>
  sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)] ?? 0)

export const stats = (samples: ReadonlyArray<Sample>): Stats => {
  const sorted = samples.map((sample) => sample.ms).sort((a, b) => a - b)
  const good = samples.filter((sample) => sample.expected && sample.ms < 250).length
  return {
    requests: samples.length,
    ko: samples.filter((sample) => !sample.expected).length,
    goodPct: samples.length === 0 ? 100 : (100 * good) / samples.length,
    p50: percentile(sorted, 0.5),
    p75: percentile(sorted, 0.75),
    p95: percentile(sorted, 0.95),
    p99: percentile(sorted, 0.99),
    max: sorted.at(-1) ?? 0
  }
}

export const byScenario = (samples: ReadonlyArray<Sample>): Record<string, Stats> =>
  Record.map(
    Arr.groupBy(samples, (sample) => sample.scenario),
    stats
  )

export interface Second {
  readonly second: number
  readonly requests: number
  readonly ko: number
  readonly p50: number
  readonly p99: number
  readonly max: number
}

/** One point per second of the run, from its first request to its last. */
export const timeline = (samples: ReadonlyArray<Sample>): ReadonlyArray<Second> => {
  const seconds = Arr.groupBy(samples, (sample) => String(sample.second))
  return Object.entries(seconds)
    .map(([second, group]) => {
      const { ko, max, p50, p99, requests } = stats(group)
      return { second: Number(second), requests, ko, p50, p99, max }
    })
    .sort((a, b) => a.second - b.second)
}

/** The latency at each of these percentiles, for the distribution plot. */
export const distribution = (samples: ReadonlyArray<Sample>) => {
  const sorted = samples.map((sample) => sample.ms).sort((a, b) => a - b)
  const fractions = [0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 1]
  return fractions.map((fraction) => ({
    fraction,
    ms: fraction === 0 ? (sorted[0] ?? 0) : percentile(sorted, fraction)
  }))
}
