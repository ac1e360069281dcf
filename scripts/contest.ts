/**
 * `npm run contest -- --profile contest|smoke|stress [--pg-profile contest|durable]`
 *
 * The contest on this machine: brings the capped stack up (`npm run stack`),
 * polls GET /clientes/1/extrato every 2 s for up to 40 s like the contest,
 * runs the k6 profile, audits the database, takes the stack down and writes
 * reports/<timestamp>/ (summary.json, summary.md, index.html). Exits non-zero
 * when a contest or smoke run has a KO or an inconsistency.
 */

import { mkdir, readFile } from "node:fs/promises"
import { cpus, totalmem } from "node:os"
import { join, relative } from "node:path"
import { parseArgs } from "node:util"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { repositoryRoot } from "../local/Processes.ts"
import { clientFor } from "../src/Platform/Sql.ts"
import * as K6 from "./lib/K6.ts"
import * as Load from "./lib/Load.ts"
import * as Report from "./lib/Report.ts"
import * as Samples from "./lib/Samples.ts"
import * as Stack from "./lib/Stack.ts"

const { values } = parseArgs({
  options: {
    profile: { type: "string", default: "smoke" },
    "pg-profile": { type: "string", default: "contest" },
    port: { type: "string", default: "9999" },
    verbose: { type: "boolean", default: false }
  }
})
const profile = values.profile
const pgProfile = values["pg-profile"]
if (profile !== "contest" && profile !== "smoke" && profile !== "stress")
  throw new Error("--profile is contest, smoke or stress")
if (pgProfile !== "contest" && pgProfile !== "durable") throw new Error("--pg-profile is contest or durable")

/** The contest's readiness rule: GET /clientes/1/extrato every 2 s, for at most 40 s. */
const awaitReady = (url: string) =>
  Effect.tryPromise(() => fetch(`${url}/clientes/1/extrato`)).pipe(
    Effect.filterOrFail((response) => response.status === 200),
    Effect.retry({ schedule: Schedule.spaced("2 seconds"), times: 20 }),
    Effect.mapError(() => new Error("the stack did not answer GET /clientes/1/extrato within 40 s"))
  )

/** Every balance must equal the sum of its transactions and respect its limit. */
const audit = (databaseUrl: string) =>
  Effect.gen(function* () {
    const sql = yield* clientFor(databaseUrl)
    const rows = yield* sql<{ id: number; saldo: number; limite: number; soma: number; transacoes: number }>`
      SELECT c.id, c.saldo, c.limite,
             COALESCE(sum(CASE t.tipo WHEN 'c' THEN t.valor ELSE -t.valor END), 0)::int AS soma,
             count(t.id)::int AS transacoes
        FROM clientes c LEFT JOIN transacoes t ON t.cliente_id = c.id
       GROUP BY c.id ORDER BY c.id`
    return rows.flatMap((row) => [
      ...(row.saldo !== row.soma
        ? [`client ${row.id}: saldo ${row.saldo} but its transactions sum to ${row.soma}`]
        : []),
      ...(row.saldo < -row.limite ? [`client ${row.id}: saldo ${row.saldo} below -limite ${-row.limite}`] : [])
    ])
  }).pipe(Effect.scoped)

const program = Effect.gen(function* () {
  const startedAt = new Date()
  const dir = join(
    repositoryRoot,
    "reports",
    `${startedAt.toISOString().replace(/[:.]/g, "-")}-crebitos-${profile}-${pgProfile}`
  )
  yield* Effect.promise(() => mkdir(dir, { recursive: true }))
  const k6 = yield* K6.ensure

  const result = yield* Effect.scoped(
    Effect.gen(function* () {
      const bringUp = Date.now()
      const stack = yield* Stack.up({
        service: "crebitos",
        pgProfile,
        port: Number(values.port),
        verbose: values.verbose
      })
      yield* awaitReady(stack.url)
      const readySeconds = (Date.now() - bringUp) / 1000
      console.log(`Stack ready in ${readySeconds.toFixed(1)} s; running k6 profile ${profile}…`)

      const load = yield* Load.measured(
        stack.services,
        Load.runK6({ binary: k6, script: "crebitos.ts", dir, env: { BASE_URL: stack.url, PROFILE: profile } })
      )
      const auditFindings = yield* audit(stack.databaseUrl)

      return { readySeconds, loadSeconds: load.seconds, k6Exit: load.result, auditFindings, services: load.services }
    })
  )

  const samples = yield* Samples.read(join(dir, "k6-samples.csv.gz"))
  const k6Summary = JSON.parse(yield* Effect.promise(() => readFile(join(dir, "k6-summary.json"), "utf8"))) as {
    metrics: Record<string, { count?: number }>
  }
  const duringLoad = k6Summary.metrics.inconsistencias?.count ?? 0
  const overall = Samples.stats(samples)
  const reasons = [
    ...(overall.ko > 0 ? [`${overall.ko} KO`] : []),
    ...(duringLoad > 0 ? [`${duringLoad} inconsistencies seen during the load`] : []),
    ...(result.auditFindings.length > 0 ? [`${result.auditFindings.length} inconsistencies in the audit`] : []),
    ...(result.readySeconds > 40 ? [`ready after ${result.readySeconds.toFixed(1)} s (> 40 s)`] : [])
  ]
  const summary: Report.Summary = {
    title: `Crébitos — profile ${profile}, PostgreSQL ${pgProfile}`,
    run: {
      profile,
      pgProfile,
      startedAt: startedAt.toISOString(),
      durationSeconds: Number(result.loadSeconds.toFixed(1)),
      readyAfterSeconds: Number(result.readySeconds.toFixed(1)),
      capped: result.services.every((service) => service.capped),
      k6: K6.version,
      k6ExitCode: result.k6Exit,
      node: process.version,
      machine: `${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${Math.round(totalmem() / 2 ** 30)} GiB`
    },
    verdict: { passed: reasons.length === 0, reasons },
    requests: overall.requests,
    ko: overall.ko,
    inconsistencies: { duringLoad, audit: result.auditFindings.length, details: result.auditFindings },
    reqPerSecond: overall.requests / Math.max(1, result.loadSeconds),
    overall,
    scenarios: Samples.byScenario(samples),
    services: result.services,
    timeline: Samples.timeline(samples),
    distribution: Samples.distribution(samples)
  }
  yield* Report.write(dir, summary)
  console.log(`\n${Report.markdown(summary)}`)
  console.log(`Report: ${relative(process.cwd(), join(dir, "index.html"))}`)
  if (!summary.verdict.passed && profile !== "stress") return yield* Effect.fail(new Error(reasons.join("; ")))
})

program.pipe(Effect.timeout(Duration.minutes(30)), NodeRuntime.runMain)
