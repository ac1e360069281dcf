/**
 * `npm run contest:payments -- --profile contest|smoke [--set NAME=value]… [--port 9999] [--verbose]`
 *
 * The Payments contest on this machine: brings up the capped stack and the
 * two processor simulators (`npm run stack:payments`), runs k6/payments.ts
 * (ramp to 550 users, the processors' conditions changing every 10 s, an
 * audit every 10 s, the contest's score), asks the simulators whether any
 * health call was refused, takes everything down and writes
 * reports/<timestamp>-payments-<profile>/ (summary.json, summary.md,
 * index.html). Exits non-zero on an inconsistency, a lag, a payment
 * recorded twice, a refused health call or a failed POST /payments.
 * `--set NAME=value` (repeatable) overrides an API setting of the compose
 * file for this run, e.g. `--set FALLBACK_AFTER=0s` to measure a policy.
 */

import { mkdir, readFile } from "node:fs/promises"
import { cpus, totalmem } from "node:os"
import { join, relative } from "node:path"
import { parseArgs } from "node:util"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { repositoryRoot } from "../local/Processes.ts"
import * as K6 from "./lib/K6.ts"
import * as Load from "./lib/Load.ts"
import * as Report from "./lib/Report.ts"
import * as Samples from "./lib/Samples.ts"
import * as Simulators from "./lib/Simulators.ts"
import * as Stack from "./lib/Stack.ts"

const { values } = parseArgs({
  options: {
    profile: { type: "string", default: "smoke" },
    set: { type: "string", multiple: true, default: [] },
    port: { type: "string", default: "9999" },
    verbose: { type: "boolean", default: false }
  }
})
const profile = values.profile
if (profile !== "contest" && profile !== "smoke") throw new Error("--profile is contest or smoke")
const overrides = Object.fromEntries(
  values.set.map((setting) => {
    const at = setting.indexOf("=")
    if (at <= 0) throw new Error(`--set takes NAME=value, not ${setting}`)
    return [setting.slice(0, at), setting.slice(at + 1)]
  })
)

const ProcessorTotals = Schema.Struct({
  totalRequests: Schema.Number,
  totalAmount: Schema.Number,
  processorRequests: Schema.Number,
  feePerTransaction: Schema.Number
})

/** What k6/payments.ts writes to RESULT_FILE. */
const ContestResult = Schema.Struct({
  requested: Schema.Number,
  recorded: Schema.Number,
  lag: Schema.Number,
  disqualified: Schema.Boolean,
  inconsistencies: Schema.Number,
  audits: Schema.Number,
  p99Ms: Schema.Number,
  bonus: Schema.Number,
  fine: Schema.Number,
  gross: Schema.Number,
  fees: Schema.Number,
  net: Schema.Number,
  score: Schema.Number,
  defaultShare: Schema.Number,
  processors: Schema.Struct({ default: ProcessorTotals, fallback: ProcessorTotals })
})

const SimulatorStats = Schema.Struct({
  healthCalls: Schema.Number,
  healthRejected: Schema.Number,
  paymentsRejected: Schema.Number
})

/** The contest's readiness rule, on this service's summary: every 2 s, for at most 40 s. */
const awaitReady = (url: string) =>
  Effect.tryPromise(() => fetch(`${url}/payments-summary`)).pipe(
    Effect.filterOrFail((response) => response.status === 200),
    Effect.retry({ schedule: Schedule.spaced("2 seconds"), times: 20 }),
    Effect.mapError(() => new Error("the stack did not answer GET /payments-summary within 40 s"))
  )

/** The simulator-only counters: how many health calls each one answered and refused. */
const simulatorStats = (url: string, token: string) =>
  Effect.tryPromise(() => fetch(`${url}/admin/stats`, { headers: { "X-Rinha-Token": token } })).pipe(
    Effect.flatMap((response) => Effect.promise(() => response.json())),
    Effect.flatMap(Schema.decodeUnknownEffect(SimulatorStats)),
    Effect.orDie
  )

const money = (amount: number) => amount.toFixed(2)

const program = Effect.gen(function* () {
  const startedAt = new Date()
  const dir = join(repositoryRoot, "reports", `${startedAt.toISOString().replace(/[:.]/g, "-")}-payments-${profile}`)
  yield* Effect.promise(() => mkdir(dir, { recursive: true }))
  const k6 = yield* K6.ensure
  const simulatorOptions = { ...Simulators.contestSimulators, verbose: values.verbose }
  const resultFile = join(dir, "k6-result.json")

  const run = yield* Effect.scoped(
    Effect.gen(function* () {
      const bringUp = Date.now()
      const stack = yield* Stack.up({
        service: "payments",
        pgProfile: "contest",
        port: Number(values.port),
        verbose: values.verbose,
        apiEnvironment: { ...Simulators.apiEnvironment(simulatorOptions), ...overrides }
      })
      const simulators = yield* Simulators.start(simulatorOptions)
      yield* awaitReady(stack.url)
      const readySeconds = (Date.now() - bringUp) / 1000
      console.log(`Stack ready in ${readySeconds.toFixed(1)} s; running k6/payments.ts, profile ${profile}…`)
      const load = yield* Load.measured(
        stack.services,
        Load.runK6({
          binary: k6,
          script: "payments.ts",
          dir,
          env: {
            BASE_URL: stack.url,
            PROCESSOR_DEFAULT_URL: simulators.defaultUrl,
            PROCESSOR_FALLBACK_URL: simulators.fallbackUrl,
            PROCESSOR_TOKEN: simulators.token,
            PROFILE: profile,
            RESULT_FILE: resultFile
          }
        })
      )
      // k6's teardown gave the processors their initial token back.
      const stats = {
        default: yield* simulatorStats(simulators.defaultUrl, simulators.token),
        fallback: yield* simulatorStats(simulators.fallbackUrl, simulators.token)
      }
      return { readySeconds, load, stats }
    })
  )

  const result = yield* Schema.decodeUnknownEffect(Schema.fromJsonString(ContestResult))(
    yield* Effect.promise(() => readFile(resultFile, "utf8"))
  )
  const samples = yield* Samples.read(join(dir, "k6-samples.csv.gz"))
  const overall = Samples.stats(samples)
  const paymentsStats = Samples.byScenario(samples).payments ?? overall
  const healthRejected = run.stats.default.healthRejected + run.stats.fallback.healthRejected
  const reasons = [
    ...(paymentsStats.ko > 0 ? [`${paymentsStats.ko} POST /payments without a 2XX`] : []),
    ...(result.inconsistencies > 0 ? [`${result.inconsistencies} inconsistencies`] : []),
    ...(result.lag !== 0 ? [`lag ${result.lag}: requested ${result.requested}, recorded ${result.recorded}`] : []),
    ...(result.disqualified ? ["disqualified: more payments recorded than requested"] : []),
    ...(healthRejected > 0 ? [`${healthRejected} health calls refused with 429`] : []),
    ...(run.load.result !== 0 ? [`k6 exited with ${run.load.result}`] : [])
  ]
  const processorRow = (name: "default" | "fallback") => {
    const totals = result.processors[name]
    return [
      name,
      String(totals.totalRequests),
      String(totals.processorRequests),
      money(totals.totalAmount),
      String(totals.feePerTransaction),
      String(run.stats[name].healthCalls),
      String(run.stats[name].healthRejected),
      String(run.stats[name].paymentsRejected)
    ]
  }
  const summary: Report.Summary = {
    title: `Payments — profile ${profile}`,
    run: {
      profile,
      ...(values.set.length > 0 ? { settings: values.set.join(" ") } : {}),
      startedAt: startedAt.toISOString(),
      durationSeconds: Number(run.load.seconds.toFixed(1)),
      readyAfterSeconds: Number(run.readySeconds.toFixed(1)),
      capped: run.load.services.every((service) => service.capped),
      k6: K6.version,
      k6ExitCode: run.load.result,
      node: process.version,
      machine: `${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${Math.round(totalmem() / 2 ** 30)} GiB`
    },
    verdict: { passed: reasons.length === 0, reasons },
    requests: overall.requests,
    ko: paymentsStats.ko,
    inconsistencies: {
      duringLoad: result.inconsistencies,
      audit: 0,
      details: [`${result.audits} audits during the load, then the final comparison (both counted above)`]
    },
    reqPerSecond: overall.requests / Math.max(1, run.load.seconds),
    overall,
    scenarios: Samples.byScenario(samples),
    services: run.load.services,
    timeline: Samples.timeline(samples),
    distribution: Samples.distribution(samples),
    sections: [
      {
        title: "Score (the contest's formula)",
        header: [
          "score",
          "net",
          "gross",
          "fees",
          "p99",
          "bonus",
          "fine",
          "requested",
          "recorded",
          "lag",
          "via default"
        ],
        rows: [
          [
            money(result.score),
            money(result.net),
            money(result.gross),
            money(result.fees),
            `${result.p99Ms.toFixed(2)} ms`,
            `${(result.bonus * 100).toFixed(1)}%`,
            `${(result.fine * 100).toFixed(0)}%`,
            String(result.requested),
            String(result.recorded),
            String(result.lag),
            `${(result.defaultShare * 100).toFixed(2)}%`
          ]
        ]
      },
      {
        title: "Payments per processor",
        header: [
          "processor",
          "recorded by the service",
          "stored by the processor",
          "amount",
          "fee",
          "health calls",
          "health 429",
          "payments 429"
        ],
        rows: [processorRow("default"), processorRow("fallback")]
      }
    ]
  }
  yield* Report.write(dir, summary)
  console.log(`\n${Report.markdown(summary)}`)
  console.log(`Report: ${relative(process.cwd(), join(dir, "index.html"))}`)
  if (!summary.verdict.passed) return yield* Effect.fail(new Error(reasons.join("; ")))
})

program.pipe(Effect.timeout(Duration.minutes(20)), NodeRuntime.runMain)
