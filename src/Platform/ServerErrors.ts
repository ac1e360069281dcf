import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HttpMiddleware from "effect/http/HttpMiddleware"
import * as HttpServerError from "effect/http/HttpServerError"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as Ref from "effect/Ref"
import { Instruments } from "./Observability.ts"

/** A token bucket of log lines: what an outage may write, and what it had to leave out. */
export interface LogBudget {
  readonly tokens: number
  readonly updatedAt: number
  /** Lines refused since the last one written. */
  readonly suppressed: number
}

export interface LogRate {
  /** Lines that may be written at once. */
  readonly burst: number
  /** One more line allowed every this many milliseconds. */
  readonly refillMillis: number
}

/**
 * Whether a line may be written at `now`: `written` carries how many lines
 * were left out before it (to say so in it), and the budget after the decision.
 */
export const spend = (
  budget: LogBudget,
  now: number,
  rate: LogRate
): { readonly written: number | undefined; readonly budget: LogBudget } => {
  const tokens = Math.min(rate.burst, budget.tokens + (now - budget.updatedAt) / rate.refillMillis)
  return tokens >= 1
    ? { written: budget.suppressed, budget: { tokens: tokens - 1, updatedAt: now, suppressed: 0 } }
    : { written: undefined, budget: { tokens, updatedAt: now, suppressed: budget.suppressed + 1 } }
}

/** Enough to see an outage begin and what it looks like, not enough to flood a log: 10 at once, then 1 a second. */
const serverErrorRate: LogRate = { burst: 10, refillMillis: 1000 }

/**
 * Watches every answer, once: logs those of 500 and above with their cause —
 * structured (method, path, status, and how many similar lines were left out
 * before it) and rate-limited, so a database outage writes a few lines a
 * second instead of one per request — and hands each to `recordAnswer` when
 * metrics are on. The client only ever gets the bare status. The
 * per-request logger is off (it costs a fifth of the throughput), so this is
 * the only place a failing request is seen.
 */
export const makeAnswerObserver = Effect.gen(function* () {
  const budget = yield* Ref.make<LogBudget>({ tokens: serverErrorRate.burst, updatedAt: 0, suppressed: 0 })
  const { recordAnswer } = yield* Instruments

  const report = (request: HttpServerRequest.HttpServerRequest, status: number, cause: Cause.Cause<unknown>) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const written = yield* Ref.modify(budget, (current) => {
        const decision = spend(current, now, serverErrorRate)
        return [decision.written, decision.budget]
      })
      if (written === undefined) return
      const path = request.url.split("?")[0] ?? request.url
      yield* Effect.logError(`${request.method} ${path} answered ${status}`, cause).pipe(
        Effect.annotateLogs({
          "http.method": request.method,
          "http.path": path,
          "http.status": status,
          suppressed: written
        })
      )
    })

  return HttpMiddleware.make((app) =>
    Effect.withFiber((fiber) => {
      const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
      const clock = fiber.getRef(Clock.Clock)
      // Monotonic: an elapsed time must not jump when the wall clock is set.
      const start = recordAnswer === undefined ? 0n : clock.monotonicTimeNanosUnsafe()
      const answered = (status: number, cause: Cause.Cause<unknown>) => {
        // Read at the end: the fiber's context then holds the matched route.
        recordAnswer?.(fiber.context, request.method, status, start, clock)
        return status >= 500 ? report(request, status, cause) : Effect.void
      }
      return Effect.onExit(app, (exit) =>
        Exit.isSuccess(exit)
          ? answered(exit.value.status, Cause.empty)
          : Effect.flatMap(HttpServerError.causeResponse(exit.cause), ([response, cause]) =>
              answered(response.status, cause)
            )
      )
    })
  )
})
