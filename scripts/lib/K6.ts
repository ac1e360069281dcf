/**
 * k6, pinned (GoTool: the machine's at that version, or built once with
 * `go install`); and a run of one of the scripts under k6/ with its outputs
 * in a report folder.
 */

import { spawn } from "node:child_process"
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { repositoryRoot } from "../../local/Processes.ts"
import * as GoTool from "./GoTool.ts"

export const version = "v1.8.1"

export const ensure = GoTool.ensure({
  name: "k6",
  module: "go.k6.io/k6",
  version,
  versionArgs: ["version"],
  reports: (output) => output.includes(`k6 ${version} `),
  override: "K6_BIN"
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
