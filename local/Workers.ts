import cluster, { type Worker } from "node:cluster"
import * as Effect from "effect/Effect"

export interface WorkersOptions {
  /** The module each worker runs: a service's `main.ts`. */
  readonly entry: string
  readonly count: number
  readonly env: Readonly<Record<string, string>>
}

/** Waits until a worker exits, asking it to stop gracefully first. */
const stopWorker = (worker: Worker) =>
  Effect.callback<void>((resume) => {
    if (worker.isDead()) return resume(Effect.void)
    worker.once("exit", () => resume(Effect.void))
    // The worker's runtime turns SIGTERM into a graceful shutdown; a second
    // signal (the terminal's Ctrl-C may have reached it already) changes nothing.
    worker.process.kill("SIGTERM")
  })

const listening = (worker: Worker) =>
  Effect.callback<void, Error>((resume) => {
    worker.once("listening", () => resume(Effect.void))
    worker.once("exit", (code) => resume(Effect.fail(new Error(`a worker exited with code ${code} before listening`))))
  })

/**
 * Runs `count` processes of one server on a shared port: node:cluster hands
 * connections to them round robin. Returns once every worker listens; the
 * workers stop, gracefully, when the scope closes. A worker that dies after
 * it started serving is replaced, so one crash cannot take the service down;
 * one that cannot start fails the whole start.
 */
export const runWorkers = Effect.fn("Workers.runWorkers")(function* (options: WorkersOptions) {
  cluster.setupPrimary({ exec: options.entry })
  let stopping = false

  const fork = (): Worker => {
    const worker = cluster.fork(options.env)
    worker.once("listening", () =>
      worker.once("exit", (code, signal) => {
        if (stopping) return
        console.error(`worker ${worker.process.pid} exited (${signal ?? code}); starting another`)
        fork()
      })
    )
    return worker
  }

  const workers = yield* Effect.acquireRelease(
    Effect.sync(() => Array.from({ length: options.count }, fork)),
    () =>
      Effect.suspend(() => {
        stopping = true
        const alive = Object.values(cluster.workers ?? {}).filter((worker) => worker !== undefined)
        return Effect.forEach(alive, stopWorker, { concurrency: "unbounded", discard: true })
      })
  )
  yield* Effect.forEach(workers, listening, { concurrency: "unbounded", discard: true })
  return workers.map((worker) => worker.process.pid)
})
