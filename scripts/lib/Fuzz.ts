/**
 * The fuzz check's runner: a service started as the harness starts it, its
 * served `/openapi.json` fuzzed by schemathesis with every check on
 * (scripts/lib/Schemathesis.ts), then an audit of what the service stored
 * against what schemathesis was answered — a request refused must have
 * changed nothing, one accepted must be there exactly once. What a service
 * is, how it is fuzzed and audited, is a `Target`.
 */

import { mkdir, writeFile } from "node:fs/promises"
import { join, relative } from "node:path"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { AuditResult } from "./Faults.ts"
import * as Report from "./Report.ts"
import * as Schemathesis from "./Schemathesis.ts"

export interface Profile {
  readonly name: "full" | "short"
  /** Test cases per operation and phase, before the target's own factor. */
  readonly maxExamples: number
  /** Requests all targets together must have sent for the run to count. */
  readonly minRequests: number
}

/** One schemathesis run of a target, as `Schemathesis.Run` without what the runner decides. */
export type Pass = Omit<Schemathesis.Run, "binary" | "schemaUrl" | "dir" | "maxExamples" | "seed"> & {
  readonly name: string
  /** How many of the profile's test cases this pass generates per operation. */
  readonly examplesFactor: number
}

export interface Target<S> {
  readonly name: string
  /** The service and whatever it needs, up and answering `/healthz` (or its own readiness) when this succeeds. */
  readonly up: Effect.Effect<S, Error, Scope.Scope>
  /** The base URL schemathesis fuzzes: `<url>/openapi.json`. */
  readonly url: (service: S) => string
  readonly passes: ReadonlyArray<Pass>
  /** After every pass, with the service still up: the exchanges of all passes, in order. */
  readonly audit: (service: S, exchanges: ReadonlyArray<Schemathesis.Exchange>) => Effect.Effect<AuditResult>
}

/** What fuzzing one target did and found. */
export interface Outcome {
  readonly target: string
  readonly requests: number
  readonly byClass: Readonly<Record<Schemathesis.StatusClass, number>>
  readonly testCases: number
  readonly checkFailures: ReadonlyArray<string>
  /** Errors schemathesis met (a schema it could not read, a request it could not send), and passes that did not finish. */
  readonly errors: ReadonlyArray<string>
  readonly audit: AuditResult
}

/** What one target's outcome fails the run for; none when it passed. */
export const reasons = (outcome: Outcome): ReadonlyArray<string> => [
  ...(outcome.byClass["5XX"] > 0 ? [`${outcome.target}: ${outcome.byClass["5XX"]} answers 5XX`] : []),
  ...outcome.checkFailures.map((failure) => `${outcome.target}: check failed: ${failure}`),
  ...outcome.errors.map((error) => `${outcome.target}: ${error}`),
  ...outcome.audit.findings.map((finding) => `${outcome.target}: audit: ${finding}`)
]

/** The outcome of a target from its passes' results and its audit. */
export const outcomeOf = (
  target: string,
  results: ReadonlyArray<{ readonly pass: string; readonly results: Schemathesis.Results }>,
  audit: AuditResult
): Outcome => {
  const exchanges = results.flatMap(({ results }) => results.exchanges)
  return {
    target,
    requests: exchanges.length,
    byClass: Schemathesis.countByClass(exchanges),
    testCases: results.reduce((sum, { results }) => sum + results.report.test_cases.generated, 0),
    checkFailures: results.flatMap(({ pass, results }) =>
      Schemathesis.checkFailures(results.report).map((failure) => `[${pass}] ${failure}`)
    ),
    errors: results.flatMap(({ pass, results }) => [
      ...results.report.errors.map((error) => `[${pass}] schemathesis error: ${JSON.stringify(error)}`),
      ...(results.report.complete ? [] : [`[${pass}] did not complete (${results.report.stop_reason})`])
    ]),
    audit
  }
}

export const tableHeader = ["service", "requests", "2XX", "4XX", "5XX", "check failures", "audit"]

export const tableRow = (outcome: Outcome) => [
  outcome.target,
  String(outcome.requests),
  String(outcome.byClass["2XX"]),
  String(outcome.byClass["4XX"]),
  String(outcome.byClass["5XX"]),
  String(outcome.checkFailures.length),
  outcome.audit.findings.length === 0 ? "OK" : `FAILED: ${outcome.audit.findings.join("; ")}`
]

/** Succeeds once `url` answers 200, asked every 250 ms for at most 40 s (the contest's readiness bound). */
export const awaitReady = (url: string) =>
  Effect.tryPromise(() => fetch(url)).pipe(
    Effect.filterOrFail((response) => response.status === 200),
    Effect.retry({ schedule: Schedule.spaced("250 millis"), times: 160 }),
    Effect.mapError(() => new Error(`${url} did not answer 200 within 40 s`))
  )

/** Brings a target up, runs its passes one after the other, audits it, takes it down. */
export const run = <S>(
  target: Target<S>,
  options: { readonly profile: Profile; readonly dir: string; readonly seed: number }
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const binary = yield* Schemathesis.ensure
      const service = yield* target.up
      const results = yield* Effect.forEach(target.passes, ({ examplesFactor, name, ...pass }) =>
        Effect.gen(function* () {
          const dir = join(options.dir, target.name, name)
          yield* Effect.promise(() => mkdir(dir, { recursive: true }))
          console.log(
            `${target.name}, ${name}: schemathesis ${Schemathesis.version} against ${target.url(service)}/openapi.json, its output in ${relative(process.cwd(), Schemathesis.logOf(dir))}`
          )
          yield* Schemathesis.run({
            ...pass,
            binary,
            schemaUrl: `${target.url(service)}/openapi.json`,
            dir,
            maxExamples: Math.max(1, Math.round(options.profile.maxExamples * examplesFactor)),
            seed: options.seed
          })
          return { pass: name, results: yield* Schemathesis.readResults(dir) }
        })
      )
      const audit = yield* target.audit(
        service,
        results.flatMap(({ results }) => results.exchanges)
      )
      return outcomeOf(target.name, results, audit)
    })
  )

/** The report folder's summary.json and summary.md; schemathesis's own reports are beside them, per target and pass. */
export const writeReport = (
  dir: string,
  summary: {
    readonly title: string
    readonly run: Readonly<Record<string, string | number | boolean>>
    readonly verdict: { readonly passed: boolean; readonly reasons: ReadonlyArray<string> }
    readonly outcomes: ReadonlyArray<Outcome>
  }
) =>
  Effect.promise(async () => {
    await writeFile(join(dir, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`)
    const notes = summary.outcomes.flatMap((outcome) =>
      outcome.audit.notes.map((note) => `- ${outcome.target}: ${note}`)
    )
    await writeFile(
      join(dir, "summary.md"),
      `# ${summary.title}

**${summary.verdict.passed ? "PASSED" : "FAILED"}**${summary.verdict.reasons.map((reason) => `\n- ${reason}`).join("")}

${Object.entries(summary.run)
  .map(([key, value]) => `- ${key}: ${value}`)
  .join("\n")}

${Report.markdownTable(tableHeader, summary.outcomes.map(tableRow))}

## Audit

${notes.join("\n")}
`
    )
  })
