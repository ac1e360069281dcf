/**
 * What every contest run does around its k6 script: run k6 with the
 * dashboard and the raw samples written to the report folder, and measure
 * each service of the stack (CPU, peak memory, throttling) while it runs.
 */

import { spawn } from "node:child_process"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import { repositoryRoot } from "../../local/Processes.ts"
import type { ServiceReport } from "./Report.ts"
import type { RunningService } from "./Stack.ts"

export interface K6Run {
  readonly binary: string
  /** The script, relative to k6/. */
  readonly script: string
  /** The report folder: k6-summary.json, k6-samples.csv.gz and k6-dashboard.html go there. */
  readonly dir: string
  readonly env: Readonly<Record<string, string>>
}

/** Runs a k6 script to its end; its output goes to this terminal. Answers k6's exit code. */
export const runK6 = (run: K6Run) =>
  Effect.callback<number>((resume) => {
    const child = spawn(
      run.binary,
      [
        "run",
        "--summary-export",
        join(run.dir, "k6-summary.json"),
        "-o",
        `csv=${join(run.dir, "k6-samples.csv.gz")}`,
        join(repositoryRoot, "k6", run.script)
      ],
      {
        stdio: ["ignore", "inherit", "inherit"],
        env: {
          ...process.env,
          ...run.env,
          K6_WEB_DASHBOARD: "true",
          K6_WEB_DASHBOARD_PORT: "-1",
          K6_WEB_DASHBOARD_EXPORT: join(run.dir, "k6-dashboard.html")
        }
      }
    )
    child.once("exit", (code) => resume(Effect.succeed(code ?? 1)))
  })

/** Highest memory each service reached, sampled every half second until interrupted. */
const sampleMemory = (services: ReadonlyArray<RunningService>, peaks: Map<string, number>) =>
  Effect.forEach(services, (service) =>
    service.usage.pipe(
      Effect.map((usage) => peaks.set(service.name, Math.max(peaks.get(service.name) ?? 0, usage.rssBytes)))
    )
  ).pipe(Effect.repeat(Schedule.spaced("500 millis")))

/** Runs `load` and reports what each service used meanwhile. */
export const measured = <A, E, R>(services: ReadonlyArray<RunningService>, load: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const peaks = new Map<string, number>()
    const sampler = yield* Effect.forkChild(sampleMemory(services, peaks))
    const starts = yield* Effect.forEach(services, (service) =>
      Effect.map(service.usage, (start) => ({ service, start }))
    )
    const startedAt = Date.now()
    const result = yield* load
    const seconds = (Date.now() - startedAt) / 1000
    const reports = yield* Effect.forEach(starts, ({ service, start }) =>
      Effect.map(
        service.usage,
        (end): ServiceReport => ({
          name: service.name,
          limit: service.limit,
          capped: service.capped,
          cpuSeconds: end.cpuSeconds - start.cpuSeconds,
          peakRssBytes: peaks.get(service.name) ?? end.rssBytes,
          peakChargedBytes: end.peakChargedBytes,
          throttledPeriods: end.throttledPeriods - start.throttledPeriods
        })
      )
    )
    yield* Fiber.interrupt(sampler)
    return { result, seconds, services: reports }
  })
