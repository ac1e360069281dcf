/**
 * `npm run bench:startup`: what bundling buys. Starts one API process three
 * times from the sources (type stripping + node_modules) and three times from
 * the bundle (`npm run build`), against the same embedded PostgreSQL, and
 * prints the time until it listens, until it is healthy (warm), and its RSS
 * then and after 5,000 requests.
 */

import { readFile } from "node:fs/promises"
import { join } from "node:path"
import autocannon from "autocannon"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as EmbeddedPostgres from "../local/EmbeddedPostgres.ts"
import { freePort, repositoryRoot, spawnProcess } from "../local/Processes.ts"
import { bundle } from "./lib/Bundle.ts"

const rssMb = (pid: number) =>
  Effect.promise(async () => {
    const status = await readFile(`/proc/${pid}/status`, "utf8")
    return Math.round(Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0) / 1024)
  })

const measure = (entry: string, databaseUrl: string) =>
  Effect.gen(function* () {
    const port = yield* freePort
    const started = Date.now()
    const server = yield* spawnProcess(process.execPath, [entry], {
      env: { DATABASE_URL: databaseUrl, PORT: String(port), SQL_DIR: join(repositoryRoot, "sql", "crebitos") },
      ready: /Listening on/
    })
    const listening = Date.now() - started
    yield* Effect.tryPromise(() => fetch(`http://127.0.0.1:${port}/healthz`)).pipe(
      Effect.filterOrFail((response) => response.ok),
      Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 3000 })
    )
    const healthy = Date.now() - started
    const pid = server.child.pid ?? 0
    const idle = yield* rssMb(pid)
    yield* Effect.promise(() =>
      autocannon({ url: `http://127.0.0.1:${port}/clientes/1/extrato`, connections: 10, amount: 5000 })
    )
    const loaded = yield* rssMb(pid)
    return { listening, healthy, idle, loaded }
  }).pipe(Effect.scoped)

const program = Effect.gen(function* () {
  yield* Effect.promise(() => bundle())
  const pg = yield* EmbeddedPostgres.start({ dataDir: Option.none(), port: Option.none() })
  const url = Redacted.value(pg.url)
  console.log("variant  run  listening  healthy  RSS healthy  RSS after 5k requests")
  for (const [name, entry] of [
    ["sources", join(repositoryRoot, "src", "Crebitos", "main.ts")],
    ["bundle", join(repositoryRoot, "dist", "crebitos.mjs")]
  ] as const) {
    for (let run = 1; run <= 3; run++) {
      const m = yield* measure(entry, url)
      console.log(
        `${name.padEnd(8)} ${run}    ${String(m.listening).padStart(5)} ms  ${String(m.healthy).padStart(5)} ms  ${String(m.idle).padStart(6)} MB  ${String(m.loaded).padStart(6)} MB`
      )
    }
  }
})

Effect.runPromise(Effect.scoped(program))
