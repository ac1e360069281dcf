/**
 * `npm run faults [-- --profile full|short] [--service crebitos|payments] [--fault TEXT] [--set NAME=value]… [--port N] [--verbose]`
 *
 * The fault suite (scripts/lib/Faults.ts): under a steady load on the capped
 * stack, one fault at a time — kill -9 of an API, kill -9 of PostgreSQL,
 * PostgreSQL frozen 5 s; for Payments (JOURNAL=true) kill -9 of an API with
 * payments queued and in flight, processors failing, processors slow — each
 * with its error window, its recovery time and an audit. Crébitos runs in
 * the `durable` PostgreSQL profile (every acknowledged write must survive)
 * and in `contest` (it must come back consistent, at the seed state after a
 * crash). Writes reports/<timestamp>-faults-<profile>/ (summary.json,
 * summary.md, index.html) and prints the table; exits non-zero when an audit
 * fails or a service does not recover within the bound.
 *
 * `--fault TEXT` runs only the faults whose name contains it; `--set` is an
 * API setting over the compose file's (e.g. `--set JOURNAL=false` to see
 * what Payments loses without its journal).
 *
 * `full` (default): 10 s of load before each fault and after its recovery.
 * `short` (CI): 2 s and 3 s, fewer faults in the `contest` profile and for
 * Payments — about three minutes in all.
 */

import { parseArgs } from "node:util"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Contest from "./lib/Contest.ts"
import * as Crebitos from "./lib/Crebitos.ts"
import * as Faults from "./lib/Faults.ts"
import * as Options from "./lib/Options.ts"
import * as Payments from "./lib/Payments.ts"
import * as Report from "./lib/Report.ts"
import * as Samples from "./lib/Samples.ts"

const { values } = parseArgs({
  options: {
    profile: { type: "string", default: "full" },
    service: { type: "string" },
    fault: { type: "string" },
    set: { type: "string", multiple: true, default: [] },
    port: { type: "string", default: "0" },
    verbose: { type: "boolean", default: false }
  }
})

const profiles: Readonly<Record<string, Faults.Profile>> = {
  full: { name: "full", before: "10 seconds", after: "10 seconds", rates: { crebitos: 150, payments: 100 } },
  short: { name: "short", before: "2 seconds", after: "3 seconds", rates: { crebitos: 150, payments: 100 } }
}

const program = Effect.gen(function* () {
  const profile = profiles[values.profile]
  if (profile === undefined) return yield* Effect.fail(new Error("--profile is full or short"))
  if (values.service !== undefined && values.service !== "crebitos" && values.service !== "payments") {
    return yield* Effect.fail(new Error("--service is crebitos or payments"))
  }
  const port = Options.port("--port", values.port)
  const only = Option.fromNullishOr(values.fault)
  const wanted = (service: "crebitos" | "payments") => values.service === undefined || values.service === service
  const short = profile.name === "short"
  const stack = { port, verbose: values.verbose, settings: Options.settings(values.set) }
  const startedAt = new Date()
  const dir = yield* Contest.reportDir(startedAt, `faults-${profile.name}`)

  const runs = yield* Effect.all([
    wanted("crebitos")
      ? Faults.run(
          Crebitos.faultTarget("durable", { ...stack, rate: profile.rates.crebitos, faults: [] }),
          profile,
          only
        )
      : Effect.succeed(undefined),
    wanted("crebitos")
      ? Faults.run(
          Crebitos.faultTarget("contest", {
            ...stack,
            rate: profile.rates.crebitos,
            faults: short ? ["kill -9 PostgreSQL"] : []
          }),
          profile,
          only
        )
      : Effect.succeed(undefined),
    wanted("payments")
      ? Faults.run(
          Payments.faultTarget({
            ...stack,
            rate: profile.rates.payments,
            faults: short ? ["kill -9 api01 with payments queued and in flight", "processors failing"] : []
          }),
          profile,
          only
        )
      : Effect.succeed(undefined)
  ])
  const finished = runs.filter((run) => run !== undefined)
  const outcomes = finished.flatMap((run) => run.outcomes)
  const durationSeconds = (Date.now() - startedAt.getTime()) / 1000
  const samples = outcomes.flatMap((outcome) => outcome.samples)
  const overall = Samples.stats(samples)

  const errors = (outcome: Faults.Outcome) =>
    outcome.failed === 0
      ? "0"
      : `${outcome.failed} of ${outcome.requests} (${Object.entries(outcome.failures)
          .map(([kind, count]) => `${kind} ×${count}`)
          .join(", ")})`
  const table: Report.Section = {
    title: "Faults",
    header: ["fault", "service", "error window", "recovery time", "errors seen", "audit"],
    rows: outcomes.map((outcome) => [
      outcome.fault,
      outcome.target,
      Faults.seconds(outcome.errorWindowMs),
      Faults.recovery(outcome),
      errors(outcome),
      outcome.audit.findings.length === 0 && outcome.inconsistencies === 0
        ? "OK"
        : `FAILED: ${[...outcome.audit.findings, ...(outcome.inconsistencies > 0 ? [`${outcome.inconsistencies} inconsistent answers`] : [])].join("; ")}`
    ])
  }
  const reasons = outcomes.flatMap((outcome) => [
    ...(Option.isNone(outcome.recoveryMs)
      ? [
          `${outcome.target}, ${outcome.fault}: not back to full service within ${Duration.format(Faults.recoveryBound)}`
        ]
      : []),
    ...outcome.audit.findings.map((finding) => `${outcome.target}, ${outcome.fault}: ${finding}`),
    ...(outcome.inconsistencies > 0
      ? [`${outcome.target}, ${outcome.fault}: ${outcome.inconsistencies} inconsistent answers`]
      : [])
  ])
  const summary: Report.Summary = {
    title: `Fault suite — profile ${profile.name}`,
    run: {
      profile: profile.name,
      ...(Option.isSome(only) ? { fault: only.value } : {}),
      ...(values.set.length > 0 ? { settings: values.set.join(" ") } : {}),
      startedAt: startedAt.toISOString(),
      durationSeconds: Number(durationSeconds.toFixed(1)),
      loadBeforeEachFault: Duration.format(Duration.fromInputUnsafe(profile.before)),
      loadAfterRecovery: Duration.format(Duration.fromInputUnsafe(profile.after)),
      crebitosRequestsPerSecond: profile.rates.crebitos,
      paymentsRequestsPerSecond: profile.rates.payments,
      recoveryBound: Duration.format(Faults.recoveryBound),
      capped: finished.every((run) => run.services.every((service) => service.capped)),
      node: process.version,
      machine: Contest.machine()
    },
    verdict: { passed: reasons.length === 0, reasons },
    requests: overall.requests,
    ko: overall.ko,
    inconsistencies: {
      duringLoad: outcomes.reduce((sum, outcome) => sum + outcome.inconsistencies, 0),
      audit: outcomes.reduce((sum, outcome) => sum + outcome.audit.findings.length, 0),
      details: outcomes.flatMap((outcome) =>
        outcome.audit.notes.map((note) => `${outcome.target}, ${outcome.fault}: ${note}`)
      )
    },
    reqPerSecond: overall.requests / Math.max(1, durationSeconds),
    overall,
    scenarios: Samples.byScenario(samples),
    services: finished.flatMap((run) => run.services),
    timeline: Samples.timeline(samples),
    distribution: Samples.distribution(samples),
    sections: [table]
  }
  yield* Contest.publish(dir, summary)
  console.log(`\n${Report.markdownTable(table.header, table.rows)}\n`)
  if (!summary.verdict.passed) return yield* Effect.fail(new Error(reasons.join("; ")))
})

program.pipe(Effect.timeout(Duration.minutes(30)), NodeRuntime.runMain)
