import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
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
      const { call, interrupted } = yield* frozenCall
      const waiting = yield* Effect.forkChild(answerWithin(late)(call))
      yield* TestClock.adjust("1999 millis")
      assert.isUndefined(waiting.pollUnsafe())
      // Within a twentieth of the timeout after it.
      yield* TestClock.adjust("101 millis")
      assert.strictEqual(yield* Fiber.join(waiting), "late")
      yield* Deferred.await(interrupted)
    }).pipe(Effect.scoped)
  )

  it.effect("calls begun at different times fall due each at its own deadline, however many ended before", () =>
    Effect.gen(function* () {
      const answerWithin = yield* makeDeadline(timeout)
      // Answered calls are bookkeeping the watcher skips over, then drops.
      for (let call = 0; call < 2_000; call++) yield* answerWithin(late)(Effect.succeed(call))
      yield* TestClock.adjust("500 millis")
      const first = yield* frozenCall
      const firstWaiting = yield* Effect.forkChild(answerWithin(late)(first.call))
      yield* TestClock.adjust("1600 millis")
      assert.isUndefined(firstWaiting.pollUnsafe())
      yield* TestClock.adjust("500 millis")
      assert.strictEqual(yield* Fiber.join(firstWaiting), "late")
      const second = yield* frozenCall
      const secondWaiting = yield* Effect.forkChild(answerWithin(late)(second.call))
      yield* TestClock.adjust("1900 millis")
      assert.isUndefined(secondWaiting.pollUnsafe())
      yield* TestClock.adjust("200 millis")
      assert.strictEqual(yield* Fiber.join(secondWaiting), "late")
      yield* Deferred.await(first.interrupted)
      yield* Deferred.await(second.interrupted)
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
