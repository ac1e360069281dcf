/**
 * A steady load that keeps every answer: requests leave at a fixed rate
 * whatever the answers (an open model, like the contest's), each waits a
 * bounded time, and each answer is kept with when its request left and when
 * it came back — what the fault suite needs to see an error window and to
 * audit every acknowledged write. k6 meters a load; this records one.
 */

import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Schedule from "effect/Schedule"
import { Pool } from "undici"

export interface Request<T> {
  readonly method: "GET" | "POST"
  readonly path: string
  /** JSON. */
  readonly body?: string
  /** What the caller needs to judge the answer (which client, which payment). */
  readonly tag: T
}

export interface Answer<T> {
  readonly request: Request<T>
  /** Unix ms. */
  readonly sentAt: number
  readonly answeredAt: number
  /** 0 when no answer came: the connection was refused or lost, or the wait ran out. */
  readonly status: number
  /** The body, or why there was no answer. */
  readonly body: string
}

export interface Options<T> {
  readonly url: string
  /** Requests per second. */
  readonly rate: number
  /** The longest a request waits for its answer. */
  readonly timeout: Duration.Input
  /** The request to send as the `index`-th one. */
  readonly next: (index: number) => Request<T>
}

export interface Traffic<T> {
  /** The answers so far. */
  readonly answers: Effect.Effect<ReadonlyArray<Answer<T>>>
  /** Stops sending, waits for the requests in flight (each is bounded), and gives every answer. */
  readonly stop: Effect.Effect<ReadonlyArray<Answer<T>>>
}

/** How many requests are due `elapsedMs` into a load of `rate` per second, `sent` being out already. */
export const due = (rate: number, elapsedMs: number, sent: number) =>
  Math.max(0, Math.floor((rate * elapsedMs) / 1000) - sent)

/** Starts the load; it runs until `stop` or the end of the scope. */
export const start = <T>(options: Options<T>) =>
  Effect.gen(function* () {
    const pool = yield* Effect.acquireRelease(
      Effect.sync(() => new Pool(options.url, { connections: 512, pipelining: 1 })),
      (pool) => Effect.promise(() => pool.destroy())
    )
    const inFlight = yield* FiberSet.make()
    const answers: Array<Answer<T>> = []
    const timeout = Duration.fromInputUnsafe(options.timeout)

    const send = (request: Request<T>) =>
      Effect.gen(function* () {
        const sentAt = yield* Clock.currentTimeMillis
        const outcome = yield* Effect.tryPromise({
          try: async (signal) => {
            const response = await pool.request({
              method: request.method,
              path: request.path,
              signal,
              ...(request.body === undefined
                ? {}
                : { body: request.body, headers: { "content-type": "application/json" } })
            })
            return { status: response.statusCode, body: await response.body.text() }
          },
          catch: (error) => (error instanceof Error ? error.message : String(error))
        }).pipe(
          Effect.timeoutOrElse({
            duration: timeout,
            orElse: () => Effect.fail(`no answer within ${Duration.format(timeout)}`)
          }),
          Effect.catch((reason) => Effect.succeed({ status: 0, body: reason }))
        )
        answers.push({ request, sentAt, answeredAt: yield* Clock.currentTimeMillis, ...outcome })
      })

    const startedAt = yield* Clock.currentTimeMillis
    let sent = 0
    const tick = Effect.gen(function* () {
      const count = due(options.rate, (yield* Clock.currentTimeMillis) - startedAt, sent)
      for (let i = 0; i < count; i++) yield* FiberSet.run(inFlight, send(options.next(sent++)))
    })
    const ticker = yield* Effect.forkScoped(tick.pipe(Effect.repeat(Schedule.spaced("5 millis"))))

    return {
      answers: Effect.sync(() => [...answers]),
      stop: Effect.gen(function* () {
        yield* Fiber.interrupt(ticker)
        yield* FiberSet.awaitEmpty(inFlight)
        return [...answers]
      })
    } satisfies Traffic<T>
  })
