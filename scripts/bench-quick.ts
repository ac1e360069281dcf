/**
 * `npm run bench:quick`: a quick closed-loop benchmark of Crébitos with
 * autocannon and the contest's mix (22 debits : 11 credits : 1 statement over
 * random clients). Starts `npm start` itself (embedded PostgreSQL, two
 * workers) unless BENCH_URL points at a running service.
 *
 *   BENCH_DURATION (s, default 20)  BENCH_CONNECTIONS (default 50)  BENCH_URL
 */

import { cpus, totalmem } from "node:os"
import autocannon from "autocannon"
import * as Effect from "effect/Effect"
import { freePort, spawnNode } from "../local/Processes.ts"
import { nextRequest } from "./lib/ContestMix.ts"

const duration = Number(process.env.BENCH_DURATION ?? 20)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50)

const run = (url: string, seconds: number) =>
  Effect.promise(() => autocannon({ url, connections, duration: seconds, requests: [{ setupRequest: nextRequest }] }))

const target = Effect.gen(function* () {
  if (process.env.BENCH_URL) return process.env.BENCH_URL
  const port = yield* freePort
  yield* spawnNode("local/start.ts", { PORT: String(port), DATABASE_URL: "" }, /Crébitos listening/)
  return `http://127.0.0.1:${port}`
})

const program = Effect.gen(function* () {
  const url = yield* target
  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${Math.round(totalmem() / 2 ** 30)} GiB; node ${process.version}`
  )
  console.log(`target: ${url}; ${connections} connections; warm-up 3 s, then ${duration} s`)
  yield* run(url, 3)
  const result = yield* run(url, duration)
  const codes = Object.entries(result.statusCodeStats ?? {})
    .map(([code, { count }]) => `${code}: ${count ?? 0}`)
    .join(", ")
  console.log(`requests: ${result.requests.total} (${codes}); errors ${result.errors}, timeouts ${result.timeouts}`)
  console.log(
    `req/s: ${Math.round(result.requests.average)}   latency ms  p50 ${result.latency.p50}  p99 ${result.latency.p99}  max ${result.latency.max}`
  )
  if (result.errors > 0 || result["5xx"] > 0) process.exitCode = 1
})

Effect.runPromise(Effect.scoped(program))
