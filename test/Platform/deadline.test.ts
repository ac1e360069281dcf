import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"
import { makeDeadline } from "../../src/Platform/Sql.ts"

// The shared deadline of Sql.ts, on the test clock: no database, only the
// bookkeeping a frozen one depends on (recovery.test.ts runs it against one).

const timeout = "2 seconds"
const late = () => Effect.succeed("late" as const)

/** A call that never answers by itself, telling when it is interrupted. */
const frozenCall = Effect.gen(function* () {
  const interrupted = yield* Deferred.make<void>()
  const call = Effect.never.pipe(Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined)))
  return { call, interrupted }
})

type AnswerWithin = Effect.Success<ReturnType<typeof makeDeadline>>

/**
 * Begins a call that never answers now, and checks it is still waited for
 * after `stillWaiting`, then answered "late" once `due` more has passed.
 */
const answeredLate = (answerWithin: AnswerWithin, stillWaiting: Duration.Input, due: Duration.Input) =>
  Effect.gen(function* () {
    const { call, interrupted } = yield* frozenCall
    const waiting = yield* Effect.forkChild(answerWithin(late)(call))
    yield* TestClock.adjust(stillWaiting)
    assert.isUndefined(waiting.pollUnsafe())
    yield* TestClock.adjust(due)
    assert.strictEqual(yield* Fiber.join(waiting), "late")
    return interrupted
  })

describe("makeDeadline", () => {
  it.effect("a call that answers in time: its answer, typed failures included", () =>
    Effect.gen(function* () {
      const answerWithin = yield* makeDeadline(timeout)
      assert.strictEqual(yield* answerWithin(late)(Effect.succeed("answer")), "answer")
      const failed = yield* Effect.exit(answerWithin(late)(Effect.fail("refused")))
      assert.deepStrictEqual(failed, Exit.fail("refused"))
      const slow = yield* Effect.forkChild(answerWithin(late)(Effect.as(Effect.sleep("1500 millis"), "slow answer")))
      yield* TestClock.adjust("1500 millis")
      assert.strictEqual(yield* Fiber.join(slow), "slow answer")
    }).pipe(Effect.scoped)
  )

  it.effect("a call that never answers: `orElse` at its deadline, and the call interrupted behind it", () =>
    Effect.gen(function* () {
      const answerWithin = yield* makeDeadline(timeout)
      // Within a twentieth of the timeout after it.
      yield* Deferred.await(yield* answeredLate(answerWithin, "1999 millis", "101 millis"))
    }).pipe(Effect.scoped)
  )

  it.effect("calls begun at different times fall due each at its own deadline, however many ended before", () =>
    Effect.gen(function* () {
      const answerWithin = yield* makeDeadline(timeout)
      // Answered calls are bookkeeping the watcher skips over, then drops.
      for (let call = 0; call < 2_000; call++) yield* answerWithin(late)(Effect.succeed(call))
      yield* TestClock.adjust("500 millis")
      const first = yield* answeredLate(answerWithin, "1600 millis", "500 millis")
      const second = yield* answeredLate(answerWithin, "1900 millis", "200 millis")
      yield* Deferred.await(first)
      yield* Deferred.await(second)
    }).pipe(Effect.scoped)
  )

  it.effect("a caller that goes away takes its call with it", () =>
    Effect.gen(function* () {
      const answerWithin = yield* makeDeadline(timeout)
      const { call, interrupted } = yield* frozenCall
      const waiting = yield* Effect.forkChild(answerWithin(late)(call))
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(waiting)
      yield* Deferred.await(interrupted)
      // Its deadline passing later changes nothing.
      yield* TestClock.adjust("2 seconds")
      assert.isTrue(Exit.hasInterrupts(yield* Fiber.await(waiting)))
    }).pipe(Effect.scoped)
  )
})
