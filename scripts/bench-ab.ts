/**
 * `npm run bench:ab -- <A folder> <B folder>`: what one Crébitos API process
 * costs per request, two builds side by side. Each folder is a checkout with
 * its bundle built (`dist/crebitos.mjs`, `npm run build`) and its `sql/crebitos`.
 * One embedded PostgreSQL (the compose file's contest settings) holds a
 * database per build; one API process per build (the compose environment);
 * then rounds of the same fixed-rate load (the contest's mix) against A and B
 * in turn, the order flipped every round, so that whatever else the machine
 * does weighs on both alike. Per round and build: the CPU the API process
 * used (utime + stime from /proc) and its PostgreSQL backends used, divided
 * by the requests answered. Prints every round and the medians.
 *
 *   BENCH_RATE (req/s, default 340: the contest's peak)  BENCH_SECONDS (per round, 10)
 *   BENCH_ROUNDS (6)  BENCH_CONNECTIONS (20)
 *   BENCH_TOGETHER=1: A and B loaded at the same time in each round, rather
 *   than one after the other — on a noisy machine round ratios then compare
 *   the same seconds, and vary far less (docs/observability.md)
 *   BENCH_ENV_A, BENCH_ENV_B: a JSON object of settings over the compose
 *   environment for that build, e.g. '{"NODE_OPTIONS": "--max-semi-space-size=16"}'
 */

import { existsSync, readFileSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { join, resolve } from "node:path"
import autocannon from "autocannon"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as EmbeddedPostgres from "../local/EmbeddedPostgres.ts"
import { freePort, repositoryRoot, spawnProcess } from "../local/Processes.ts"
import { clientFor } from "../src/Platform/Sql.ts"
import * as Compose from "./lib/Compose.ts"
import { nextRequest } from "./lib/ContestMix.ts"

const rate = Number(process.env.BENCH_RATE ?? 340)
const seconds = Number(process.env.BENCH_SECONDS ?? 10)
const rounds = Number(process.env.BENCH_ROUNDS ?? 6)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 20)
// Both loads at once: A and B then share every moment of the machine's weather.
const together = process.env.BENCH_TOGETHER === "1"

// /proc/<pid>/stat counts in clock ticks: USER_HZ, 100 on Linux.
const ticksPerSecond = 100

/** CPU seconds a process has used so far (user + system). */
const cpuSecondsOf = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? []
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond
}

const settingsOf = (json: string | undefined): Record<string, string> => {
  if (json === undefined) return {}
  const parsed: unknown = JSON.parse(json)
  if (typeof parsed !== "object" || parsed === null) throw new Error(`not a JSON object: ${json}`)
  return Object.fromEntries(Object.entries(parsed).map(([key, value]) => [key, String(value)]))
}

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

const program = Effect.gen(function* () {
  const folders = process.argv.slice(2).map((folder) => resolve(folder))
  if (folders.length !== 2) return yield* Effect.die(new Error("usage: bench-ab.ts <A folder> <B folder>"))
  const compose = yield* Compose.load(join(repositoryRoot, "docker/crebitos/docker-compose.yml"), {})
  const settings = Compose.parsePostgresConf(
    yield* Effect.promise(() => readFile(join(repositoryRoot, "docker/crebitos/postgresql-contest.conf"), "utf8"))
  )
  const pg = yield* EmbeddedPostgres.start({ dataDir: Option.none(), port: Option.none(), settings })
  const serverUrl = Redacted.value(pg.url)
  const admin = yield* clientFor(serverUrl)
  const environment = compose.file.services.api01?.environment ?? {}

  const variants = yield* Effect.forEach(folders, (folder, index) =>
    Effect.gen(function* () {
      const name = index === 0 ? "A" : "B"
      const database = `bench_${name.toLowerCase()}`
      yield* admin.unsafe(`CREATE DATABASE ${database}`)
      const databaseUrl = serverUrl.replace(/\/postgres$/, `/${database}`)
      const port = yield* freePort
      const api = yield* spawnProcess(process.execPath, [join(folder, "dist/crebitos.mjs")], {
        env: {
          ...environment,
          PORT: String(port),
          DATABASE_URL: databaseUrl,
          SQL_DIR: join(folder, "sql/crebitos"),
          LOG_FORMAT: "json",
          ...settingsOf(process.env[`BENCH_ENV_${name}`])
        },
        ready: /Listening on/
      })
      const url = `http://127.0.0.1:${port}`
      yield* Effect.promise(async () => {
        while (
          !(await fetch(`${url}/healthz`).then(
            (r) => r.ok,
            () => false
          ))
        ) {
          await new Promise((done) => setTimeout(done, 100))
        }
      })
      const pid = api.child.pid ?? 0
      const db = yield* clientFor(databaseUrl)
      const backends = db<{
        pid: number
      }>`SELECT pid FROM pg_stat_activity WHERE datname = ${database} AND application_name = 'rinha'`
      return { name, folder, url, pid, backends, api: [] as Array<number>, database: [] as Array<number> }
    })
  )
  console.log(`rate ${rate} req/s, ${seconds} s per round, ${rounds} rounds, ${connections} connections`)
  for (const variant of variants) {
    console.log(`${variant.name}: ${variant.folder} ${process.env[`BENCH_ENV_${variant.name}`] ?? ""}`)
  }

  type Variant = (typeof variants)[number]
  const measure = (round: number, variant: Variant) =>
    Effect.gen(function* () {
      const pids = (yield* variant.backends.pipe(Effect.orDie)).map((row) => row.pid)
      const before = { api: cpuSecondsOf(variant.pid), db: pids.map(cpuSecondsOf) }
      const result = yield* Effect.promise(() =>
        autocannon({
          url: variant.url,
          connections,
          overallRate: rate,
          duration: seconds,
          requests: [{ setupRequest: nextRequest }]
        })
      )
      const api = cpuSecondsOf(variant.pid) - before.api
      // A backend the pool replaced meanwhile counts only what it used before.
      const db = pids.reduce((sum, pid, i) => {
        const start = before.db[i] ?? 0
        return sum + (existsSync(`/proc/${pid}/stat`) ? cpuSecondsOf(pid) - start : 0)
      }, 0)
      const answered = result.requests.total
      const failed = result.errors + result.timeouts + result.non2xx - (result.statusCodeStats?.["422"]?.count ?? 0)
      variant.api.push((api * 1000) / answered)
      variant.database.push((db * 1000) / answered)
      console.log(
        `round ${round + 1} ${variant.name}: ${answered} requests (${failed} failed), p99 ${result.latency.p99} ms; ` +
          `API ${((api * 1000) / answered).toFixed(3)} ms/request, its backends ${((db * 1000) / answered).toFixed(3)} ms/request`
      )
    })

  for (let round = 0; round < rounds; round++) {
    if (together) {
      yield* Effect.forEach(variants, (variant) => measure(round, variant), { concurrency: "unbounded", discard: true })
    } else {
      const order = round % 2 === 0 ? variants : [...variants].reverse()
      yield* Effect.forEach(order, (variant) => measure(round, variant), { discard: true })
    }
  }
  for (const variant of variants) {
    console.log(
      `${variant.name} median: API ${median(variant.api).toFixed(3)} ms/request, backends ${median(variant.database).toFixed(3)} ms/request`
    )
  }
  // Within a round A and B ran back to back, under the same weather: the
  // median of the rounds' ratios is steadier than the ratio of the medians.
  const [a, b] = variants
  if (a !== undefined && b !== undefined) {
    const ratios = (of: (variant: Variant) => ReadonlyArray<number>) =>
      median(of(b).map((value, round) => value / (of(a)[round] ?? Number.NaN))).toFixed(3)
    console.log(
      `B/A, median of the rounds' ratios: API ${ratios((v: Variant) => v.api)}, backends ${ratios((v: Variant) => v.database)}`
    )
  }
})

Effect.runPromise(Effect.scoped(program)).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
