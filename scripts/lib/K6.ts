/**
 * k6, pinned: found on the machine at that version, or built from the Go
 * module proxy with `go install` into a cache directory; and a run of one of
 * the scripts under k6/ with its outputs in a report folder.
 */

import { spawn } from "node:child_process"
import { readFile } from "node:fs/promises"
import { homedir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { findExecutable, repositoryRoot, runCommand } from "../../local/Processes.ts"

export const version = "v1.8.1"

const cacheDir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "rinha", "k6", version)
const cached = join(cacheDir, "k6")

const isPinned = (binary: string) =>
  runCommand(binary, ["version"]).pipe(
    Effect.map((output) => output.includes(`k6 ${version} `)),
    Effect.catch(() => Effect.succeed(false))
  )

export const ensure = Effect.gen(function* () {
  for (const candidate of [process.env.K6_BIN, cached, "k6"]) {
    if (candidate !== undefined && (yield* isPinned(candidate))) return candidate
  }
  const go = yield* findExecutable(["go", "/usr/local/go/bin/go", "/usr/lib/go/bin/go"], ["version"])
  if (Option.isNone(go)) {
    return yield* Effect.fail(new Error(`k6 ${version} is not installed and Go (to build it) was not found`))
  }
  console.log(`Installing k6 ${version} with go install into ${cacheDir} (a few minutes, once)…`)
  yield* runCommand(go.value, ["install", `go.k6.io/k6@${version}`], { GOBIN: cacheDir })
  return cached
})

export interface Run {
  readonly binary: string
  /** The script, relative to k6/. */
  readonly script: string
  /** The report folder: k6-summary.json, k6-samples.csv.gz and k6-dashboard.html go there. */
  readonly dir: string
  readonly env: Readonly<Record<string, string>>
}

/** Runs a k6 script to its end; its output goes to this terminal. Answers k6's exit code. */
export const run = (options: Run) =>
  Effect.callback<number>((resume) => {
    const child = spawn(
      options.binary,
      [
        "run",
        "--summary-export",
        join(options.dir, "k6-summary.json"),
        "-o",
        `csv=${join(options.dir, "k6-samples.csv.gz")}`,
        join(repositoryRoot, "k6", options.script)
      ],
      {
        stdio: ["ignore", "inherit", "inherit"],
        env: {
          ...process.env,
          ...options.env,
          K6_WEB_DASHBOARD: "true",
          K6_WEB_DASHBOARD_PORT: "-1",
          K6_WEB_DASHBOARD_EXPORT: join(options.dir, "k6-dashboard.html")
        }
      }
    )
    child.once("exit", (code) => resume(Effect.succeed(code ?? 1)))
  })

/** What `--summary-export` writes, as far as the harness reads it: each metric's `count`, by name. */
const SummaryExport = Schema.Struct({
  metrics: Schema.Record(Schema.String, Schema.Struct({ count: Schema.optional(Schema.Number) }))
})

/** A counter's total in a run's `k6-summary.json`; 0 when nothing was counted. */
export const summaryCount = (dir: string, metric: string) =>
  Effect.promise(() => readFile(join(dir, "k6-summary.json"), "utf8")).pipe(
    Effect.flatMap(Schema.decodeUnknownEffect(Schema.fromJsonString(SummaryExport))),
    Effect.map((summary) => summary.metrics[metric]?.count ?? 0),
    Effect.orDie
  )
