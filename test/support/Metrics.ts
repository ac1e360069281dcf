import { spawnSync } from "node:child_process"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { findExecutable } from "../../local/Processes.ts"

/** One line of a scrape: a series and its value. */
export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface Scrape {
  readonly status: number
  readonly contentType: string | null
  readonly text: string
  /** Each family's type, from its `# TYPE` line. */
  readonly types: ReadonlyMap<string, string>
  readonly samples: ReadonlyArray<Sample>
}

const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/
const labelPair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g
const unescapeLabel = (value: string) => value.replace(/\\(.)/g, (_, char: string) => (char === "n" ? "\n" : char))

/**
 * The samples of a scrape, read line by line. Only what the tests compare is
 * read (names, labels, values); whether the text is valid exposition format
 * is for Prometheus's own linter to say (`promtoolProblems`).
 */
const parseScrape = (text: string): Pick<Scrape, "types" | "samples"> => {
  const types = new Map<string, string>()
  const samples: Array<Sample> = []
  for (const line of text.split("\n")) {
    if (line.startsWith("# TYPE ")) {
      const [name = "", type = ""] = line.slice("# TYPE ".length).split(" ")
      types.set(name, type)
      continue
    }
    const match = sampleLine.exec(line)
    if (match === null) continue
    const labels = Object.fromEntries(
      [...(match[2] ?? "").matchAll(labelPair)].map(([, k = "", v = ""]) => [k, unescapeLabel(v)])
    )
    samples.push({ name: match[1] ?? "", labels, value: match[3] === "+Inf" ? Infinity : Number(match[3]) })
  }
  return { types, samples }
}

/** `GET /metrics` on 127.0.0.1:`port`. */
export const scrape = (port: number) =>
  Effect.promise(async (): Promise<Scrape> => {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`)
    const text = await response.text()
    return { status: response.status, contentType: response.headers.get("content-type"), text, ...parseScrape(text) }
  })

const matches = (labels: Readonly<Record<string, string>>, wanted: Readonly<Record<string, string>>) =>
  Object.entries(wanted).every(([name, value]) => labels[name] === value)

/** The samples named `name` whose labels include `labels`. */
export const samples = (scraped: Scrape, name: string, labels: Readonly<Record<string, string>> = {}) =>
  scraped.samples.filter((sample) => sample.name === name && matches(sample.labels, labels))

/** The sum of the series named `name` whose labels include `labels`; 0 when there is none yet. */
export const seriesValue = (scraped: Scrape, name: string, labels: Readonly<Record<string, string>> = {}) =>
  samples(scraped, name, labels).reduce((sum, sample) => sum + sample.value, 0)

/** Observations of the histogram `name` (its `_count`) whose labels include `labels`. */
export const countOf = (scraped: Scrape, name: string, labels: Readonly<Record<string, string>> = {}) =>
  seriesValue(scraped, `${name}_count`, labels)

/** The `[le, cumulative count]` buckets of one histogram series, in the order written. */
export const bucketsOf = (scraped: Scrape, name: string, labels: Readonly<Record<string, string>>) =>
  samples(scraped, `${name}_bucket`, labels).map(
    (sample) => [sample.labels.le === "+Inf" ? Infinity : Number(sample.labels.le), sample.value] as const
  )

/** Prometheus's own linter on a scrape (`promtool check metrics`), when promtool is installed. */
export const promtoolProblems = Effect.gen(function* () {
  const promtool = yield* findExecutable(["promtool", "/usr/bin/promtool"], ["--version"])
  return Option.map(promtool, (binary) => (text: string) => {
    const result = spawnSync(binary, ["check", "metrics"], { input: text, encoding: "utf8" })
    return result.status === 0 ? "" : `${result.stdout}${result.stderr}`
  })
})

/**
 * Allocates and drops some 40 MB of small objects, more than V8's young
 * generation holds, so that it collects at least once (the GC metrics need a pause to show).
 */
export const collectGarbage = () => {
  let survivors = 0
  for (let round = 0; round < 10; round++) {
    const junk: Array<{ readonly round: number; readonly index: number }> = []
    for (let index = 0; index < 100_000; index++) junk.push({ round, index })
    survivors += junk.length
  }
  return survivors
}
