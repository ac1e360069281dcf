/**
 * The compose topology as plain processes on this machine: PostgreSQL
 * (embedded, with the compose file's settings and init scripts), one bundled
 * API process per API service, and nginx with the compose nginx.conf — each
 * in a cgroup with the compose file's CPU and memory limits.
 */

import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as SqlClient from "effect/sql/SqlClient"
import * as EmbeddedPostgres from "../../local/EmbeddedPostgres.ts"
import { freePort, listening, repositoryRoot, spawnProcess, stopGracefully } from "../../local/Processes.ts"
import { applySqlScript, clientFor } from "../../src/Platform/Sql.ts"
import { bundle, type ServiceName } from "./Bundle.ts"
import * as Cgroups from "./Cgroups.ts"
import * as Compose from "./Compose.ts"
import * as Nginx from "./Nginx.ts"

export interface StackOptions {
  readonly service: ServiceName
  readonly pgProfile: "contest" | "durable"
  /** Where nginx listens; the contest's 9999 by default. */
  readonly port: number
  /** Print every process's output as it comes. */
  readonly verbose: boolean
  /** Set in every API process over the compose environment: where the stack's outside services are. */
  readonly apiEnvironment?: Readonly<Record<string, string>>
}

export interface RunningService {
  readonly name: string
  readonly pid: number
  readonly limit: Compose.Limit
  readonly capped: boolean
  readonly usage: Effect.Effect<Cgroups.Usage>
}

export interface Stack {
  readonly url: string
  readonly databaseUrl: string
  readonly services: ReadonlyArray<RunningService>
}

export const composePath = (service: ServiceName) => join(repositoryRoot, "docker", service, "docker-compose.yml")

const serviceNamed = (compose: Compose.Compose, name: string) => {
  const service = compose.file.services[name]
  if (service === undefined) throw new Error(`docker-compose.yml has no service ${name}`)
  return service
}

export const up = Effect.fn("Stack.up")(function* (options: StackOptions) {
  const compose = yield* Compose.load(composePath(options.service), { ...process.env, PG_PROFILE: options.pgProfile })
  const capped = yield* Cgroups.available
  if (!capped) {
    console.warn(
      "\n!!! cgroups are not writable here (needs root and cgroup v1): the stack runs UNCAPPED.\n" +
        "!!! Its numbers say nothing about the contest's 1.5 CPU / 550MB.\n"
    )
  }
  yield* Effect.promise(bundle)
  const services: Array<RunningService> = []

  /** A cgroup for the service when possible; its usage reader either way. */
  const meter = Effect.fn(function* (name: string, limit: Compose.Limit) {
    const cgroup = capped ? Option.some(yield* Cgroups.make(name, limit)) : Option.none()
    return {
      cgroup,
      register: (pid: number) =>
        services.push({
          name,
          pid,
          limit,
          capped,
          usage: Option.match(cgroup, { onNone: () => Cgroups.treeUsage(pid), onSome: Cgroups.usage })
        })
    }
  })

  // PostgreSQL: the compose file's settings, database and init scripts.
  const db = serviceNamed(compose, "db")
  const dbMeter = yield* meter("db", Compose.limitOf(db))
  const confPath = Compose.volumeSource(compose, db, "/etc/postgresql/postgresql.conf")
  const { listen_addresses: _, ...settings } =
    confPath === undefined ? {} : Compose.parsePostgresConf(yield* Effect.promise(() => readFile(confPath, "utf8")))
  const pg = yield* EmbeddedPostgres.start({ dataDir: Option.none(), port: Option.none(), settings })
  if (Option.isSome(dbMeter.cgroup)) yield* Cgroups.adopt(dbMeter.cgroup.value, pg.pid)
  dbMeter.register(pg.pid)
  const database = db.environment?.POSTGRES_DB ?? "postgres"
  const serverUrl = Redacted.value(pg.url)
  const databaseUrl = serverUrl.replace(/\/postgres$/, `/${database}`)
  const initScripts = Compose.initScripts(compose, db)
  const scripts = yield* Effect.forEach(initScripts, (script) => Effect.promise(() => readFile(script, "utf8")))
  // What the image's entrypoint does at first start; its connections close right after.
  yield* Effect.scoped(
    Effect.gen(function* () {
      if (database !== "postgres") yield* (yield* clientFor(serverUrl)).unsafe(`CREATE DATABASE ${database}`)
      const sql = yield* clientFor(databaseUrl)
      yield* applySqlScript(scripts.join("\n")).pipe(Effect.provideService(SqlClient.SqlClient, sql))
    })
  )

  // The API instances: the bundle the image runs, with the compose environment.
  const upstreams: Record<string, number> = {}
  for (const [name, api] of Compose.apiServices(compose)) {
    const apiMeter = yield* meter(name, Compose.limitOf(api))
    const port = yield* freePort
    const composedUrl = new URL(api.environment?.DATABASE_URL ?? databaseUrl)
    const local = new URL(databaseUrl)
    composedUrl.host = local.host
    const running = yield* spawnProcess(process.execPath, [join(repositoryRoot, "dist", `${options.service}.mjs`)], {
      env: {
        ...api.environment,
        ...options.apiEnvironment,
        PORT: String(port),
        DATABASE_URL: composedUrl.href,
        SQL_DIR: join(repositoryRoot, "sql", options.service)
      },
      ready: /Listening on/,
      cgroupProcs: Option.match(apiMeter.cgroup, { onNone: () => undefined, onSome: Cgroups.procsFiles }),
      ...(options.verbose ? { echo: name } : {})
    })
    yield* Effect.addFinalizer(() => stopGracefully(running, "SIGTERM"))
    apiMeter.register(running.child.pid ?? 0)
    // compose starts nginx once the API is healthy: warm, and its database answering.
    yield* Effect.tryPromise(() => fetch(`http://127.0.0.1:${port}/healthz`)).pipe(
      Effect.filterOrFail((response) => response.ok),
      Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 300 }),
      Effect.mapError(() => new Error(`${name} never became healthy:\n${running.output()}`))
    )
    upstreams[api.hostname ?? name] = port
    upstreams[name] = port
  }

  // nginx: the compose nginx.conf, upstreams pointed at the local ports.
  const nginx = serviceNamed(compose, "nginx")
  const nginxMeter = yield* meter("nginx", Compose.limitOf(nginx))
  const nginxBinary = yield* Nginx.ensure
  const confSource = Compose.volumeSource(compose, nginx, "/etc/nginx/nginx.conf")
  if (confSource === undefined) return yield* Effect.die(new Error("the nginx service mounts no nginx.conf"))
  const prefix = yield* Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "rinha-nginx-"))),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
  )
  const conf = Nginx.localConfig(yield* Effect.promise(() => readFile(confSource, "utf8")), upstreams, options.port)
  yield* Effect.promise(() => writeFile(join(prefix, "nginx.conf"), conf))
  const proxy = yield* spawnProcess(
    nginxBinary,
    [
      "-p",
      prefix,
      "-c",
      resolve(prefix, "nginx.conf"),
      "-e",
      "stderr",
      "-g",
      `daemon off; pid ${join(prefix, "nginx.pid")};`
    ],
    {
      cgroupProcs: Option.match(nginxMeter.cgroup, { onNone: () => undefined, onSome: Cgroups.procsFiles }),
      ...(options.verbose ? { echo: "nginx" } : {})
    }
  )
  yield* Effect.addFinalizer(() => stopGracefully(proxy, "SIGQUIT"))
  nginxMeter.register(proxy.child.pid ?? 0)
  // nginx says nothing when it is up: ready is the port answering.
  yield* listening(options.port).pipe(
    Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 100 }),
    Effect.mapError(() => new Error(`nginx is not listening on ${options.port}:\n${proxy.output()}`))
  )

  return { url: `http://127.0.0.1:${options.port}`, databaseUrl, services } satisfies Stack
})
