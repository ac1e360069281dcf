import { type ChildProcess, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { connect, createServer } from "node:net"
import { fileURLToPath } from "node:url"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"

export const repositoryRoot = fileURLToPath(new URL("..", import.meta.url))

export interface Running {
  readonly child: ChildProcess
  /** Everything it printed so far, stdout and stderr. */
  readonly output: () => string
}

export interface SpawnOptions {
  readonly env?: Readonly<Record<string, string>>
  /** The repository root unless given. */
  readonly cwd?: string
  /** Output that means the process is ready; without it, ready once started. */
  readonly ready?: RegExp | undefined
  /** cgroup.procs files the process enters before it execs, so its caps hold from the start. */
  readonly cgroupProcs?: ReadonlyArray<string> | undefined
  /** Echo its output, prefixed, as it comes. */
  readonly echo?: string | undefined
}

/**
 * In its own process group a child outlives a parent killed with SIGKILL
 * (a test runner stopped, a harness killed): on Linux, util-linux's setpriv
 * asks the kernel to send it `signal` when its parent dies; elsewhere it
 * runs as is.
 */
export const withParentDeathSignal = (
  signal: NodeJS.Signals,
  command: string,
  args: ReadonlyArray<string>
): [string, ReadonlyArray<string>] =>
  process.platform === "linux" && existsSync("/usr/bin/setpriv")
    ? ["/usr/bin/setpriv", ["--pdeathsig", signal, "--", command, ...args]]
    : [command, args]

/**
 * Runs a command in its own process group, as a terminal would run
 * `npm start`, until `ready` shows up in its output. Whatever is still alive
 * when the scope closes is killed, group and all; if this process is killed
 * outright, the command gets SIGTERM.
 */
export const spawnProcess = (command: string, args: ReadonlyArray<string>, options: SpawnOptions) =>
  Effect.acquireRelease(
    Effect.callback<Running, Error>((resume) => {
      const dying = withParentDeathSignal("SIGTERM", command, args)
      const [file, argv] =
        options.cgroupProcs === undefined
          ? dying
          : [
              "/bin/sh",
              ["-c", 'for f in $RINHA_CGROUP_PROCS; do echo $$ > "$f"; done; exec "$@"', "sh", dying[0], ...dying[1]]
            ]
      const child = spawn(file, argv, {
        cwd: options.cwd ?? repositoryRoot,
        env: { ...process.env, ...options.env, RINHA_CGROUP_PROCS: (options.cgroupProcs ?? []).join(" ") },
        detached: true,
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      let ready = false
      const running = { child, output: () => output }
      const onData = (chunk: Buffer) => {
        output += chunk.toString()
        if (options.echo !== undefined) {
          for (const line of chunk.toString().split("\n")) if (line !== "") console.log(`[${options.echo}] ${line}`)
        }
        if (!ready && options.ready?.test(output)) {
          ready = true
          resume(Effect.succeed(running))
        }
      }
      child.stdout?.on("data", onData)
      child.stderr?.on("data", onData)
      child.once("exit", (code) =>
        resume(Effect.fail(new Error(`${command} exited (${code}) before ready:\n${output}`)))
      )
      if (options.ready === undefined) child.once("spawn", () => resume(Effect.succeed(running)))
    }),
    ({ child }) =>
      Effect.sync(() => {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
          process.kill(-child.pid, "SIGKILL")
        }
      })
  )

/** `node <script>` (this Node), as `spawnProcess`. */
export const spawnNode = (script: string, env: Readonly<Record<string, string>>, ready: RegExp) =>
  spawnProcess(process.execPath, [script], { env, ready })

/** Resolves with the exit code (or signal) once the process has exited. */
export const exited = (child: ChildProcess) =>
  Effect.callback<number | NodeJS.Signals | null>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null)
      return resume(Effect.succeed(child.exitCode ?? child.signalCode))
    child.once("exit", (code, signal) => resume(Effect.succeed(code ?? signal)))
  })

/** Sends a signal to a whole process group, as Ctrl-C in a terminal does. */
export const signalGroup = (child: ChildProcess, signal: NodeJS.Signals) =>
  Effect.sync(() => {
    if (child.pid !== undefined) process.kill(-child.pid, signal)
  })

export const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Asks a process group to stop with `signal`, waiting up to `timeoutMs` before it is killed. */
export const stopGracefully = (running: Running, signal: NodeJS.Signals, timeoutMs = 10_000) =>
  Effect.gen(function* () {
    const { child } = running
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
    process.kill(-child.pid, signal)
    yield* exited(child).pipe(Effect.timeoutOrElse({ duration: timeoutMs, orElse: () => Effect.void }))
  })

/**
 * How long Docker waits before restarting a container that exited (its
 * restart policy): 100 ms at first, doubled after each restart of one that
 * ran less than 10 s, back to 100 ms once one ran longer; at most a minute.
 */
export const restartDelayMillis = (previousMillis: number | undefined, ranForMillis: number): number =>
  previousMillis === undefined || ranForMillis >= 10_000 ? 100 : Math.min(2 * previousMillis, 60_000)

export interface KeptRunning {
  /** The process running now: it changes with each restart. */
  readonly current: Effect.Effect<Running>
}

/**
 * Keeps a process running as Docker's `restart: unless-stopped` keeps a
 * container: started now (failing if the first start fails), and started
 * again with `start` whenever it exits without being asked to, after
 * `restartDelayMillis`. Each run has a scope of its own, closed when it
 * exits; closing the enclosing scope stops the watch first, then the
 * process (through the finalizers `start` added), so a requested stop is
 * never taken for a crash.
 */
export const keepRunning = Effect.fn("Processes.keepRunning")(function* (
  name: string,
  start: Effect.Effect<Running, Error, Scope.Scope>
) {
  const run = Effect.gen(function* () {
    const scope = yield* Scope.make()
    const running = yield* start.pipe(
      Scope.provide(scope),
      Effect.onExit((exit) => (Exit.isSuccess(exit) ? Effect.void : Scope.close(scope, exit)))
    )
    return { scope, running, startedAt: yield* Clock.currentTimeMillis }
  })
  const current = yield* Ref.make(yield* run)
  yield* Effect.addFinalizer(() => Effect.flatMap(Ref.get(current), ({ scope }) => Scope.close(scope, Exit.void)))

  /** Starts it again; the new run becomes `current` even if interrupted as it lands. */
  const startAgain = Effect.uninterruptibleMask((restore) =>
    Effect.exit(restore(run)).pipe(
      Effect.tap((next) => (Exit.isSuccess(next) ? Ref.set(current, next.value) : Effect.void))
    )
  )

  const watch = Effect.gen(function* () {
    let delay: number | undefined
    while (true) {
      const { running, scope, startedAt } = yield* Ref.get(current)
      const ended = yield* exited(running.child)
      yield* Scope.close(scope, Exit.void)
      delay = restartDelayMillis(delay, (yield* Clock.currentTimeMillis) - startedAt)
      yield* Effect.logWarning(
        `${name} (pid ${running.child.pid}) exited (${ended}); restarting it in ${delay} ms (restart: unless-stopped)`
      )
      while (true) {
        yield* Effect.sleep(delay)
        const next = yield* startAgain
        if (Exit.isSuccess(next)) break
        delay = restartDelayMillis(delay, 0)
        yield* Effect.logWarning(`${name} did not start again; next try in ${delay} ms`, next.cause)
      }
      yield* Effect.logWarning(`${name} restarted (pid ${(yield* Ref.get(current)).running.child.pid})`)
    }
  })

  yield* Effect.forkScoped(watch)
  return { current: Effect.map(Ref.get(current), ({ running }) => running) } satisfies KeptRunning
})

/** Runs a command to completion, failing with its output when it fails. */
export const runCommand = (command: string, args: ReadonlyArray<string>, env?: Readonly<Record<string, string>>) =>
  Effect.callback<string, Error>((resume) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.once("error", (error) => resume(Effect.fail(error)))
    child.once("exit", (code) =>
      resume(
        code === 0
          ? Effect.succeed(output)
          : Effect.fail(new Error(`${command} ${args.join(" ")} failed (${code}):\n${output}`))
      )
    )
  })

/** The first of `candidates` that exists and runs, if any. */
export const findExecutable = (candidates: ReadonlyArray<string>, versionArgs: ReadonlyArray<string>) =>
  Effect.findFirst(candidates, (candidate) =>
    runCommand(candidate, versionArgs).pipe(
      Effect.as(true),
      Effect.catch(() => Effect.succeed(false))
    )
  )

/** Succeeds once something accepts TCP connections on 127.0.0.1:`port`. */
export const listening = (port: number) =>
  Effect.callback<void, Error>((resume) => {
    const socket = connect(port, "127.0.0.1")
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.void)
    })
    socket.once("error", (error) => resume(Effect.fail(error)))
  })

/** A TCP port nothing listens on right now, on 127.0.0.1. */
export const freePort = Effect.callback<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})
