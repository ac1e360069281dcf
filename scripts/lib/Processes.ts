import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import * as Effect from "effect/Effect"

export const repositoryRoot = fileURLToPath(new URL("../..", import.meta.url))

export interface Running {
  readonly child: ChildProcess
  /** Everything it printed so far, stdout and stderr. */
  readonly output: () => string
}

/**
 * Runs `node <script>` in its own process group, as a terminal would run
 * `npm start`, until `ready` shows up in its output. Whatever is still alive
 * when the scope closes is killed, group and all.
 */
export const spawnNode = (script: string, env: Readonly<Record<string, string>>, ready: RegExp) =>
  Effect.acquireRelease(
    Effect.callback<Running, Error>((resume) => {
      const child = spawn(process.execPath, [script], {
        cwd: repositoryRoot,
        env: { ...process.env, ...env },
        detached: true,
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      const running = { child, output: () => output }
      const onData = (chunk: Buffer) => {
        output += chunk.toString()
        if (ready.test(output)) resume(Effect.succeed(running))
      }
      child.stdout?.on("data", onData)
      child.stderr?.on("data", onData)
      child.once("exit", (code) =>
        resume(Effect.fail(new Error(`${script} exited (${code}) before ready:\n${output}`)))
      )
    }),
    ({ child }) =>
      Effect.sync(() => {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
          process.kill(-child.pid, "SIGKILL")
        }
      })
  )

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
