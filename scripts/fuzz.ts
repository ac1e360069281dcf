/**
 * `npm run fuzz [-- --profile full|short] [--service crebitos|payments|processor-sim] [--seed N] [--verbose]`
 *
 * The fuzz check (scripts/lib/Fuzz.ts): each service started as the harness
 * starts it — Crébitos and Payments as their stacks (nginx, both APIs,
 * PostgreSQL; Payments with its two simulators), the Payment Processor
 * simulator alone — and its served `/openapi.json` fuzzed by schemathesis
 * (pinned, installed on demand) with every check and every phase, then an
 * audit that no refused request changed anything and every accepted one is
 * there once. Writes reports/<timestamp>-fuzz-<profile>/ (summary.json,
 * summary.md, schemathesis's own reports per service) and prints the table;
 * exits non-zero on any 5XX, any failed check, any audit finding, or fewer
 * requests than the profile promises.
 *
 * `full` (default): ≥ 10,000 requests in all. `short` (CI): a minute or two.
 */

import { join, relative } from "node:path"
import { parseArgs } from "node:util"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Contest from "./lib/Contest.ts"
import * as Crebitos from "./lib/Crebitos.ts"
import * as Fuzz from "./lib/Fuzz.ts"
import * as Payments from "./lib/Payments.ts"
import * as Report from "./lib/Report.ts"
import * as Schemathesis from "./lib/Schemathesis.ts"
import * as Simulators from "./lib/Simulators.ts"

const { values } = parseArgs({
  options: {
    profile: { type: "string", default: "full" },
    service: { type: "string" },
    seed: { type: "string", default: "1" },
    verbose: { type: "boolean", default: false }
  }
})

const profiles: Readonly<Record<string, Fuzz.Profile>> = {
  full: { name: "full", maxExamples: 1000, minRequests: 10_000 },
  short: { name: "short", maxExamples: 50, minRequests: 0 }
}

const names = ["crebitos", "payments", "processor-sim"] as const

const program = Effect.gen(function* () {
  const profile = profiles[values.profile]
  if (profile === undefined) return yield* Effect.fail(new Error("--profile is full or short"))
  if (values.service !== undefined && !names.some((name) => name === values.service)) {
    return yield* Effect.fail(new Error(`--service is one of ${names.join(", ")}`))
  }
  const seed = Number(values.seed)
  if (!Number.isInteger(seed)) return yield* Effect.fail(new Error("--seed takes an integer"))
  const startedAt = new Date()
  const dir = yield* Contest.reportDir(startedAt, `fuzz-${profile.name}`)
  const options = { profile, seed, dir }
  const targets = {
    crebitos: Fuzz.run(Crebitos.fuzzTarget(values), options),
    payments: Fuzz.run(Payments.fuzzTarget(values), options),
    "processor-sim": Fuzz.run(Simulators.fuzzTarget(values), options)
  }
  // One at a time: each stack binds its own ports and has the machine to itself.
  const outcomes = yield* Effect.forEach(
    names.filter((name) => values.service === undefined || values.service === name),
    (name) => targets[name]
  )
  const requests = outcomes.reduce((sum, outcome) => sum + outcome.requests, 0)
  const reasons = [
    ...outcomes.flatMap(Fuzz.reasons),
    ...(values.service === undefined && requests < profile.minRequests
      ? [`${requests} requests in all, fewer than the profile's ${profile.minRequests}`]
      : [])
  ]
  const summary = {
    title: `Fuzz check — profile ${profile.name}`,
    run: {
      profile: profile.name,
      startedAt: startedAt.toISOString(),
      durationSeconds: Number(((Date.now() - startedAt.getTime()) / 1000).toFixed(1)),
      schemathesis: Schemathesis.version,
      seed,
      maxExamples: profile.maxExamples,
      requests,
      node: process.version,
      machine: Contest.machine()
    },
    verdict: { passed: reasons.length === 0, reasons },
    outcomes
  }
  yield* Fuzz.writeReport(dir, summary)
  console.log(`\n${Report.markdownTable(Fuzz.tableHeader, outcomes.map(Fuzz.tableRow))}\n`)
  console.log(`Report: ${relative(process.cwd(), join(dir, "summary.md"))}`)
  if (!summary.verdict.passed) return yield* Effect.fail(new Error(reasons.join("; ")))
})

program.pipe(Effect.timeout(Duration.minutes(60)), NodeRuntime.runMain)
