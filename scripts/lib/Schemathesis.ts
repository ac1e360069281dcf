/**
 * schemathesis, pinned: found at that version, or installed with pip into a
 * Python virtual environment in a cache directory; a run against a served
 * OpenAPI document with its machine-readable reports (the JSON run report
 * and a HAR of every request and answer) in a report folder; and what those
 * reports say, read back with their Schemas.
 */

import { spawn } from "node:child_process"
import { open, readdir, readFile } from "node:fs/promises"
import { homedir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { repositoryRoot, runCommand } from "../../local/Processes.ts"
import * as Apt from "./Apt.ts"

export const version = "4.32.5"

const cacheDir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "rinha", "schemathesis", version)
const venv = join(cacheDir, "venv")
const cached = join(venv, "bin", "schemathesis")

const isPinned = (binary: string) =>
  runCommand(binary, ["--version"]).pipe(
    Effect.map((output) => output.includes(`version ${version}`)),
    Effect.catch(() => Effect.succeed(false))
  )

export const ensure = Effect.gen(function* () {
  for (const candidate of [process.env.SCHEMATHESIS_BIN, cached, "schemathesis"]) {
    if (candidate !== undefined && (yield* isPinned(candidate))) return candidate
  }
  // Python with venv's pip (Debian splits it into python3-venv, which a bare
  // image such as CI's node:24-bookworm may lack): installed first when root.
  const python = yield* Apt.required({
    package: "python3-venv",
    candidates: ["python3"],
    versionArgs: ["-m", "ensurepip", "--version"]
  })
  console.log(`Installing schemathesis ${version} with pip into ${venv} (a minute, once)…`)
  // --clear: a venv left half-made by an interrupted install is made again.
  yield* runCommand(python, ["-m", "venv", "--clear", venv])
  yield* runCommand(join(venv, "bin", "pip"), [
    "install",
    "--disable-pip-version-check",
    "--quiet",
    `schemathesis==${version}`
  ])
  return cached
})

export interface Run {
  readonly binary: string
  /** The served document: `<base>/openapi.json`; its operations are called on the same origin. */
  readonly schemaUrl: string
  /** Under fuzz/: the checks' settings for this contract, each exception with its reason. */
  readonly config: string
  /** Where the reports go (a folder of their own). */
  readonly dir: string
  readonly maxExamples: number
  readonly mode: "all" | "negative"
  readonly seed: number
  /** Operations, by `METHOD /path`, this run leaves out or is limited to. */
  readonly exclude?: ReadonlyArray<string>
  readonly include?: ReadonlyArray<string>
  readonly headers?: Readonly<Record<string, string>>
}

/** Every check on, every phase that applies; one worker, so the HAR lists requests in the order they were sent. */
export const runArguments = (options: Run) => [
  "--config-file",
  join(repositoryRoot, "fuzz", options.config),
  "--no-color",
  "run",
  options.schemaUrl,
  "--checks",
  "all",
  "--phases",
  "examples,coverage,fuzzing,stateful",
  "--mode",
  options.mode,
  "--max-examples",
  String(options.maxExamples),
  "--seed",
  String(options.seed),
  "--workers",
  "1",
  "--continue-on-failure",
  // No example database in the working tree: a run is what its seed makes.
  "--generation-database",
  "none",
  "--report",
  "json,har,junit",
  "--report-dir",
  options.dir,
  ...(options.exclude ?? []).flatMap((name) => ["--exclude-name", name]),
  ...(options.include ?? []).flatMap((name) => ["--include-name", name]),
  ...Object.entries(options.headers ?? {}).flatMap(([name, value]) => ["--header", `${name}: ${value}`])
]

/** Where a run's own output is kept, beside its reports. */
export const logOf = (dir: string) => join(dir, "schemathesis.log")

/**
 * Runs schemathesis to its end, its output (some 50 lines a run) into
 * `logOf(dir)`, shown on this terminal only when the run failed: a passing
 * run is told by the summary table, and CI's log keeps what matters.
 * Answers its exit code.
 */
export const run = (options: Run) =>
  Effect.acquireUseRelease(
    Effect.promise(() => open(logOf(options.dir), "w")),
    (log) =>
      Effect.callback<number>((resume) => {
        const child = spawn(options.binary, runArguments(options), { stdio: ["ignore", log.fd, log.fd] })
        child.once("exit", (code) => resume(Effect.succeed(code ?? 1)))
      }),
    (log) => Effect.promise(() => log.close())
  ).pipe(
    Effect.tap((code) =>
      code === 0
        ? Effect.void
        : Effect.promise(async () => process.stdout.write(await readFile(logOf(options.dir), "utf8")))
    )
  )

/** The JSON run report, as far as the verdict reads it. */
export const RunReport = Schema.Struct({
  complete: Schema.Boolean,
  stop_reason: Schema.String,
  test_cases: Schema.Struct({ generated: Schema.Int }),
  failures: Schema.Array(
    Schema.Struct({
      code: Schema.String,
      title: Schema.String,
      count: Schema.Int,
      operations: Schema.Array(Schema.String)
    })
  ),
  errors: Schema.Array(Schema.Unknown)
})
export type RunReport = typeof RunReport.Type

/** One exchange of the HAR schemathesis writes. */
export const Exchange = Schema.Struct({
  request: Schema.Struct({
    method: Schema.String,
    url: Schema.String,
    postData: Schema.optionalKey(Schema.Struct({ text: Schema.optionalKey(Schema.String) }))
  }),
  response: Schema.Struct({ status: Schema.Int })
})
export type Exchange = typeof Exchange.Type

const Har = Schema.Struct({ log: Schema.Struct({ entries: Schema.Array(Exchange) }) })

/** What one schemathesis run did and found. */
export interface Results {
  readonly report: RunReport
  /** Every request it sent, in order. */
  readonly exchanges: ReadonlyArray<Exchange>
}

/** The one report file of a kind (`json-<time>.json`, `har-<time>.json`) in a run's folder. */
const reportFile = (dir: string, kind: string) =>
  Effect.promise(() => readdir(dir)).pipe(
    Effect.flatMap((files) => {
      const file = files.find((name) => name.startsWith(`${kind}-`) && name.endsWith(".json"))
      return file === undefined
        ? Effect.fail(new Error(`schemathesis wrote no ${kind} report in ${dir}`))
        : Effect.promise(() => readFile(join(dir, file), "utf8"))
    })
  )

export const readResults = (dir: string) =>
  Effect.all({
    report: Effect.flatMap(reportFile(dir, "json"), Schema.decodeUnknownEffect(Schema.fromJsonString(RunReport))),
    exchanges: Effect.map(
      Effect.flatMap(reportFile(dir, "har"), Schema.decodeUnknownEffect(Schema.fromJsonString(Har))),
      (har) => har.log.entries
    )
  }).pipe(Effect.mapError((error) => new Error(`reading schemathesis's reports in ${dir}: ${error.message}`)))

/** `METHOD /path` of an exchange, its path's ids as the document's template would not say: the literal path. */
export const pathOf = (exchange: Exchange) => new URL(exchange.request.url).pathname

export type StatusClass = "2XX" | "3XX" | "4XX" | "5XX"
export const statusClasses: ReadonlyArray<StatusClass> = ["2XX", "3XX", "4XX", "5XX"]

export const statusClass = (status: number): StatusClass =>
  status >= 500 ? "5XX" : status >= 400 ? "4XX" : status >= 300 ? "3XX" : "2XX"

/** How many answers of each class, every class present. */
export const countByClass = (exchanges: ReadonlyArray<Exchange>): Readonly<Record<StatusClass, number>> => {
  const counts = { "2XX": 0, "3XX": 0, "4XX": 0, "5XX": 0 }
  for (const exchange of exchanges) counts[statusClass(exchange.response.status)] += 1
  return counts
}

/** The checks that failed, one line each: `ST202 Schema-valid request rejected ×1 (POST /x)`. */
export const checkFailures = (report: RunReport): ReadonlyArray<string> =>
  report.failures.map(
    (failure) => `${failure.code} ${failure.title} ×${failure.count} (${failure.operations.join(", ")})`
  )
