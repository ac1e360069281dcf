/**
 * The compose topology as plain processes on this machine: PostgreSQL
 * (embedded, with the compose file's settings and init scripts), one bundled
 * API process per API service, and nginx with the compose nginx.conf — each
 * in a cgroup with the compose file's CPU and memory limits, and each kept
 * running as the compose file's `restart: unless-stopped` keeps a container:
 * a process that dies is started again on the same port (and data).
 * With `observe`, each API exports its metrics on a port of its own and a
 * Prometheus, outside the caps, scrapes them.
 */

import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import * as EmbeddedPostgres from "../../local/EmbeddedPostgres.ts"
import {
  freePort,
  keepRunning,
  listening,
  type Running,
  repositoryRoot,
  spawnProcess,
  stopGracefully
} from "../../local/Processes.ts"
import { applySqlScript, clientFor } from "../../src/Platform/Sql.ts"
import { buildOnce, type ServiceName } from "./Bundle.ts"
import * as Cgroups from "./Cgroups.ts"
import * as Compose from "./Compose.ts"
import * as Nginx from "./Nginx.ts"
import * as Prometheus from "./Prometheus.ts"

export type PgProfile = "contest" | "durable"

export interface StackOptions {
  readonly service: ServiceName
  readonly pgProfile: PgProfile
  /** Where nginx listens (the contest's 9999 by default); 0 for a free port. */
  readonly port: number
  /** Print every process's output as it comes. */
  readonly verbose: boolean
  /** Set in every API process over the compose environment: where the stack's outside services are, overrides. */
  readonly apiEnvironment?: Readonly<Record<string, string>>
  /** nginx writes which instance answered each request (the fault suite reads it); off as in compose otherwise. */
  readonly upstreamLog?: boolean
  /** Metrics on in every API (METRICS_PORT, a free port each) and a Prometheus scraping them. */
  readonly observe?: boolean
  /**
   * With `observe`: the APIs whose metrics are on, when not all of them. The
   * others are the control of a measurement of what metrics cost: the same
   * requests (nginx's round robin), the same seconds, the same Prometheus
   * and k6 on the same cores, so their CPU differs only by what runs in the
   * process (docs/observability.md).
   */
  readonly observedApis?: ReadonlyArray<string>
  /** With `observe`: seconds between scrapes, and between the APIs' runtime samples (`Prometheus.defaultScrapeSeconds`). */
  readonly scrapeSeconds?: number
  /**
   * Each API instance is the service's floor (`scripts/floor/<service>.ts`)
   * instead of its bundle, in the same cgroup with the same environment: what
   * the least code doing the same requests costs on the same stack and cores.
   */
  readonly floor?: boolean
  /**
   * API instances that run another file than the rest (`--api-entry`), by
   * name: a build of another commit beside this one, both answering the same
   * requests in the same seconds, so the per-service CPU compares the two
   * builds without the machine's drift between runs.
   */
  readonly apiEntries?: Readonly<Record<string, string>>
}

/** A service of the compose file, running: what it may use, and what it used. */
export interface RunningService {
  readonly name: string
  /** Its process now: another one after a restart. */
  readonly pid: Effect.Effect<number>
  readonly limit: Compose.Limit
  readonly capped: boolean
  readonly usage: Effect.Effect<Cgroups.Usage>
}

const scrapeSecondsOf = (options: StackOptions) => options.scrapeSeconds ?? Prometheus.defaultScrapeSeconds

/** One API instance, reachable directly (not through nginx) on its own port. */
export interface Api {
  readonly name: string
  readonly url: string
  readonly port: number
  readonly pid: Effect.Effect<number>
}

export interface Stack {
  /** nginx: the service as its clients see it. */
  readonly url: string
  readonly databaseUrl: string
  readonly services: ReadonlyArray<RunningService>
  readonly apis: ReadonlyArray<Api>
  /** PostgreSQL's main process now (its backends are its children). */
  readonly databasePid: Effect.Effect<number>
  /** What nginx answered, request by request, with `upstreamLog`. */
  readonly upstreamAnswers: Option.Option<Effect.Effect<ReadonlyArray<Nginx.UpstreamAnswer>>>
  /** Prometheus's URL, with `observe`. */
  readonly prometheus: Option.Option<string>
}

export const composePath = (service: ServiceName) => join(repositoryRoot, "docker", service, "docker-compose.yml")

const serviceNamed = (compose: Compose.Compose, name: string) => {
  const service = compose.file.services[name]
  if (service === undefined) throw new Error(`docker-compose.yml has no service ${name}`)
  return service
}

const pidOf = (current: Effect.Effect<Running>) => Effect.map(current, (running) => running.child.pid ?? 0)

/**
 * Where a service's processes go — a cgroup with its caps when this machine
 * allows it, removed with the scope — and how its usage is read either way.
 */
const placement = Effect.fn("Stack.placement")(function* (capped: boolean, name: string, service: Compose.Service) {
  const limit = Compose.limitOf(service)
  const cgroup = capped ? Option.some(yield* Cgroups.make(name, limit)) : Option.none()
  return {
    cgroup,
    procs: Option.match(cgroup, { onNone: () => undefined, onSome: Cgroups.procsFiles }),
    running: (pid: Effect.Effect<number>): RunningService => ({
      name,
      pid,
      limit,
      capped,
      usage: Option.match(cgroup, { onNone: () => Effect.flatMap(pid, Cgroups.treeUsage), onSome: Cgroups.usage })
    })
  }
})

/** A process that is stopped with `signal` when its scope closes. */
const stoppedWith = (start: Effect.Effect<Running, Error, Scope.Scope>, signal: NodeJS.Signals) =>
  Effect.tap(start, (running) => Effect.addFinalizer(() => stopGracefully(running, signal)))

/** PostgreSQL: the compose file's settings, database and init scripts (run once, on the empty data directory). */
const startDatabase = Effect.fn("Stack.startDatabase")(function* (compose: Compose.Compose, capped: boolean) {
  const db = serviceNamed(compose, "db")
  const place = yield* placement(capped, "db", db)
  const confPath = Compose.volumeSource(compose, db, "/etc/postgresql/postgresql.conf")
  const { listen_addresses: _, ...settings } =
    confPath === undefined ? {} : Compose.parsePostgresConf(yield* Effect.promise(() => readFile(confPath, "utf8")))
  const pg = yield* EmbeddedPostgres.supervise({
    dataDir: Option.none(),
    port: Option.none(),
    settings,
    // A restarted server joins the same cgroup; its backends follow it.
    onStart: (pid) => Option.match(place.cgroup, { onNone: () => Effect.void, onSome: (cg) => Cgroups.adopt(cg, pid) })
  })
  yield* Effect.forkScoped(pg.watch.pipe(Effect.catch((error) => Effect.logError(error.message))))
  const database = db.environment?.POSTGRES_DB ?? "postgres"
  const serverUrl = Redacted.value(pg.url)
  const databaseUrl = serverUrl.replace(/\/postgres$/, `/${database}`)
  const scripts = yield* Effect.forEach(Compose.initScripts(compose, db), (script) =>
    Effect.promise(() => readFile(script, "utf8"))
  )
  // What the image's entrypoint does at first start; its connections close right after.
  yield* Effect.scoped(
    Effect.gen(function* () {
      if (database !== "postgres") yield* (yield* clientFor(serverUrl)).unsafe(`CREATE DATABASE ${database}`)
      const sql = yield* clientFor(databaseUrl)
      yield* applySqlScript(scripts.join("\n")).pipe(Effect.provideService(SqlClient.SqlClient, sql))
    })
  )
  return { databaseUrl, pid: pg.pid, running: place.running(pg.pid) }
})

const isObserved = (options: StackOptions, api: string) =>
  options.observe === true && (options.observedApis?.includes(api) ?? true)

/** What an API process runs: the file `--api-entry` names for it, else the bundle the image runs, or the service's floor. */
export const apiEntry = (options: Pick<StackOptions, "service" | "floor" | "apiEntries">, api?: string) =>
  (api === undefined ? undefined : options.apiEntries?.[api]) ??
  (options.floor === true
    ? join(repositoryRoot, "scripts", "floor", `${options.service}.ts`)
    : join(repositoryRoot, "dist", `${options.service}.mjs`))

/** One API instance (`apiEntry`), with the compose environment, on a port of its own. */
const startApi = Effect.fn("Stack.startApi")(function* (
  name: string,
  api: Compose.Service,
  databaseUrl: string,
  options: StackOptions & { readonly capped: boolean }
) {
  const place = yield* placement(options.capped, name, api)
  const port = yield* freePort
  const metricsPort = isObserved(options, name) ? Option.some(yield* freePort) : Option.none()
  const composedUrl = new URL(api.environment?.DATABASE_URL ?? databaseUrl)
  composedUrl.host = new URL(databaseUrl).host
  const instance = yield* keepRunning(
    name,
    stoppedWith(
      spawnProcess(process.execPath, [apiEntry(options, name)], {
        env: {
          ...api.environment,
          // The runtime sampled as often as it is scraped, unless the run says otherwise.
          ...(Option.isSome(metricsPort)
            ? { METRICS_SAMPLE_INTERVAL: Prometheus.sampleIntervalOf(scrapeSecondsOf(options)) }
            : {}),
          ...options.apiEnvironment,
          PORT: String(port),
          ...Option.match(metricsPort, { onNone: () => ({}), onSome: (port) => ({ METRICS_PORT: String(port) }) }),
          DATABASE_URL: composedUrl.href,
          SQL_DIR: join(repositoryRoot, "sql", options.service)
        },
        ready: /Listening on/,
        cgroupProcs: place.procs,
        ...(options.verbose ? { echo: name } : {})
      }),
      "SIGTERM"
    )
  )
  const url = `http://127.0.0.1:${port}`
  // compose starts nginx once the API is healthy: warm, and its database answering.
  yield* Effect.tryPromise(() => fetch(`${url}/healthz`)).pipe(
    Effect.filterOrFail((response) => response.ok),
    Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 300 }),
    Effect.catch(() =>
      Effect.flatMap(instance.current, (running) =>
        Effect.fail(new Error(`${name} never became healthy:\n${running.output()}`))
      )
    )
  )
  const pid = pidOf(instance.current)
  return {
    api: { name, url, port, pid } satisfies Api,
    hostname: api.hostname ?? name,
    port,
    metricsPort,
    running: place.running(pid)
  }
})

/** nginx: the compose nginx.conf, its upstreams pointed at the local ports, listening on `port`. */
const startNginx = Effect.fn("Stack.startNginx")(function* (
  compose: Compose.Compose,
  upstreams: Readonly<Record<string, number>>,
  options: StackOptions & { readonly capped: boolean }
) {
  const nginx = serviceNamed(compose, "nginx")
  const place = yield* placement(options.capped, "nginx", nginx)
  const binary = yield* Nginx.ensure
  const confSource = Compose.volumeSource(compose, nginx, "/etc/nginx/nginx.conf")
  if (confSource === undefined) return yield* Effect.die(new Error("the nginx service mounts no nginx.conf"))
  const prefix = yield* Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "rinha-nginx-"))),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
  )
  const log = join(prefix, "upstreams.log")
  const conf = Nginx.localConfig(
    yield* Effect.promise(() => readFile(confSource, "utf8")),
    upstreams,
    options.port,
    options.upstreamLog === true ? log : undefined
  )
  yield* Effect.promise(() => writeFile(join(prefix, "nginx.conf"), conf))
  const args = ["-p", prefix, "-c", resolve(prefix, "nginx.conf"), "-e", "stderr"]
  const proxy = yield* keepRunning(
    "nginx",
    stoppedWith(
      spawnProcess(binary, [...args, "-g", `daemon off; pid ${join(prefix, "nginx.pid")};`], {
        cgroupProcs: place.procs,
        ...(options.verbose ? { echo: "nginx" } : {})
      }),
      "SIGQUIT"
    )
  )
  // nginx says nothing when it is up: ready is the port answering.
  yield* listening(options.port).pipe(
    Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 100 }),
    Effect.catch(() =>
      Effect.flatMap(proxy.current, (running) =>
        Effect.fail(new Error(`nginx is not listening on ${options.port}:\n${running.output()}`))
      )
    )
  )
  return {
    running: place.running(pidOf(proxy.current)),
    upstreamAnswers:
      options.upstreamLog === true
        ? Option.some(
            Effect.promise(() => readFile(log, "utf8").catch(() => "")).pipe(Effect.map(Nginx.parseUpstreamLog))
          )
        : Option.none()
  }
})

/**
 * Prometheus, a plain process outside the caps (it is no part of the
 * contest's topology): the compose profile's config pointed at the APIs'
 * metrics ports, its data in a folder removed with the scope.
 */
const startPrometheus = Effect.fn("Stack.startPrometheus")(function* (
  metricsPorts: Readonly<Record<string, number>>,
  unobserved: ReadonlyArray<string>,
  scrapeSeconds: number,
  verbose: boolean
) {
  const binary = yield* Prometheus.ensure
  const dir = yield* Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "rinha-prometheus-"))),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
  )
  const configFile = join(dir, "prometheus.yml")
  const config = Prometheus.localConfig(yield* Prometheus.readComposeConfig, metricsPorts, scrapeSeconds, unobserved)
  yield* Effect.promise(() => writeFile(configFile, config))
  const port = yield* freePort
  yield* stoppedWith(
    spawnProcess(binary, Prometheus.commandLine(configFile, join(dir, "data"), port), {
      ready: Prometheus.ready,
      ...(verbose ? { echo: "prometheus" } : {})
    }),
    "SIGTERM"
  )
  return `http://127.0.0.1:${port}`
})

/** Brings the stack up in compose's order — database, APIs once it is healthy, nginx once they are — for the scope. */
export const up = Effect.fn("Stack.up")(function* (options: StackOptions) {
  const compose = yield* Compose.load(composePath(options.service), { ...process.env, PG_PROFILE: options.pgProfile })
  const capped = yield* Cgroups.available
  if (!capped) {
    console.warn(
      "\n!!! cgroups are not writable here (needs root and cgroup v1): the stack runs UNCAPPED.\n" +
        "!!! Its numbers say nothing about the contest's 1.5 CPU / 550MB.\n"
    )
  }
  const unknown = [...(options.observedApis ?? []), ...Object.keys(options.apiEntries ?? {})].filter(
    (name) => !Compose.apiServices(compose).some(([api]) => api === name)
  )
  if (unknown.length > 0) {
    return yield* Effect.fail(new Error(`no API named ${unknown.join(", ")} in ${composePath(options.service)}`))
  }
  yield* buildOnce
  const database = yield* startDatabase(compose, capped)
  const apis = yield* Effect.forEach(
    Compose.apiServices(compose),
    ([name, api]) => startApi(name, api, database.databaseUrl, { ...options, capped }),
    { concurrency: "unbounded" }
  )
  const upstreams = Object.fromEntries(
    apis.flatMap(({ api, hostname, port }) => [
      [hostname, port],
      [api.name, port]
    ])
  )
  const port = options.port === 0 ? yield* freePort : options.port
  const nginx = yield* startNginx(compose, upstreams, { ...options, port, capped })
  const metricsPorts = Object.fromEntries(
    apis.flatMap(({ hostname, metricsPort }) => (Option.isSome(metricsPort) ? [[hostname, metricsPort.value]] : []))
  )
  const prometheus =
    options.observe === true
      ? Option.some(
          yield* startPrometheus(
            metricsPorts,
            apis.flatMap(({ hostname, metricsPort }) => (Option.isNone(metricsPort) ? [hostname] : [])),
            scrapeSecondsOf(options),
            options.verbose
          )
        )
      : Option.none()
  return {
    url: `http://127.0.0.1:${port}`,
    databaseUrl: database.databaseUrl,
    services: [database.running, ...apis.map(({ running }) => running), nginx.running],
    apis: apis.map(({ api }) => api),
    databasePid: database.pid,
    upstreamAnswers: nginx.upstreamAnswers,
    prometheus
  } satisfies Stack
})
