import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/testing/TestClock"
import { Dispatcher, retrySchedule } from "../../src/Payments/Dispatcher.ts"
import { Cents, type CorrelationId } from "../../src/Payments/Domain.ts"
import {
  contestStart,
  dispatcherLayer,
  type FakeProcessor,
  makeWorld,
  payment,
  settle,
  start,
  type World
} from "./doubles.ts"

/**
 * The dispatcher over test processors and stores, under the test clock, for
 * the test's body; stopped afterwards as SIGTERM stops it.
 */
const withDispatcher = <A, E>(
  world: World,
  settings: Readonly<Record<string, string>>,
  body: (dispatcher: Dispatcher["Service"]) => Effect.Effect<A, E>
) =>
  Effect.gen(function* () {
    const service = yield* start(dispatcherLayer(world, settings))
    const result = yield* body(Context.get(service.context, Dispatcher))
    yield* service.stop
    return result
  })

const ids = (count: number, prefix = "p"): Array<CorrelationId> =>
  Array.from({ length: count }, (_, index) => `${prefix}${index}`)

const acceptAll = (dispatcher: Dispatcher["Service"], correlationIds: ReadonlyArray<CorrelationId>) =>
  Effect.forEach(correlationIds, (correlationId) => dispatcher.accept(payment(correlationId)), { discard: true })

const recordedAt = (world: World, processor: FakeProcessor["name"]) =>
  world.recorded.filter((recorded) => recorded.processor === processor).map((recorded) => recorded.correlationId)

const sendTimes = (processor: FakeProcessor) => processor.sent.map((request) => request.at - contestStart)

/** Longest wait between two attempts of a payment: 500 ms, jittered up to 20% more. */
const nextAttempt = "600 millis"

describe("Dispatcher: dispatch", () => {
  it.effect("a payment goes to default and is recorded with its cents and the instant it was sent under", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      yield* withDispatcher(world, {}, (dispatcher) =>
        Effect.gen(function* () {
          yield* TestClock.adjust("40 millis")
          yield* dispatcher.accept(payment("p1", 1990))
          yield* settle
        })
      )
      const instant = DateTime.makeUnsafe(contestStart + 40)
      assert.deepStrictEqual(world.default.sent, [
        { at: contestStart + 40, correlationId: "p1", amount: Cents.make(1990), requestedAt: instant }
      ])
      assert.deepStrictEqual(world.recorded, [
        { correlationId: "p1", amount: Cents.make(1990), processor: "default", requestedAt: instant }
      ])
      assert.strictEqual(world.journal.size, 0)
    })
  )

  it.effect("a correlationId already on its way is not taken twice", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      world.default.latency = "100 millis"
      yield* withDispatcher(world, {}, (dispatcher) =>
        Effect.gen(function* () {
          yield* acceptAll(dispatcher, ["p1", "p1"])
          yield* TestClock.adjust("50 millis")
          yield* dispatcher.accept(payment("p1"))
          yield* TestClock.adjust("100 millis")
        })
      )
      assert.strictEqual(world.default.sent.length, 1)
      assert.deepStrictEqual(recordedAt(world, "default"), ["p1"])
    })
  )

  it.effect("default refusing: payments wait for it, one probe per PROBE_INTERVAL, none to fallback", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      world.default.setFailing(true)
      yield* withDispatcher(world, {}, (dispatcher) =>
        Effect.gen(function* () {
          yield* acceptAll(dispatcher, ids(5))
          yield* TestClock.adjust("9900 millis")
          assert.deepStrictEqual(world.fallback.sent, [])
          assert.deepStrictEqual(world.recorded, [])
          const times = sendTimes(world.default)
          // Probes only: the health check found default failing at once, the first probe is due 250 ms later.
          assert.isAtLeast(times[0] ?? 0, 250)
          assert.isAtLeast(times.length, 10)
          for (let index = 1; index < times.length; index++) {
            assert.isAtLeast((times[index] ?? 0) - (times[index - 1] ?? 0), 250)
          }
        })
      )
    })
  )

  it.effect("a refusal makes default suspect, though its health endpoint says nothing: the others wait", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      world.default.behaviour = "refuse"
      yield* withDispatcher(world, {}, (dispatcher) =>
        Effect.gen(function* () {
          yield* acceptAll(dispatcher, ids(5))
          yield* TestClock.adjust("2 seconds")
          const times = sendTimes(world.default)
          // The first payment found it refusing; the next send is a probe, one interval later.
          assert.strictEqual(times[0], 0)
          assert.isAtLeast(times[1] ?? 0, 250)
          assert.isAtMost(times.length, 1 + 2000 / 250)
          assert.deepStrictEqual(world.fallback.sent, [])
        })
      )
    })
  )

  it.effect("default back: the first success clears it and the waiting payments go through default", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      world.default.setFailing(true)
      yield* withDispatcher(world, {}, (dispatcher) =>
        Effect.gen(function* () {
          yield* acceptAll(dispatcher, ids(5))
          yield* TestClock.adjust("2 seconds")
          world.default.setFailing(false)
          yield* TestClock.adjust("300 millis")
          yield* TestClock.adjust(nextAttempt)
        })
      )
      assert.deepStrictEqual(recordedAt(world, "default").sort(), ids(5))
      assert.deepStrictEqual(world.fallback.sent, [])
    })
  )

  it.effect("fallback takes a payment only once it has waited FALLBACK_AFTER for a suspect default", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      world.default.setFailing(true)
      yield* withDispatcher(world, {}, (dispatcher) =>
        Effect.gen(function* () {
          yield* dispatcher.accept(payment("early"))
          yield* TestClock.adjust("5 seconds")
          yield* dispatcher.accept(payment("late"))
          yield* TestClock.adjust("5 seconds")
          yield* TestClock.adjust(nextAttempt)
          assert.deepStrictEqual(recordedAt(world, "fallback"), ["early"])
          yield* TestClock.adjust("5 seconds")
        })
      )
      assert.deepStrictEqual(recordedAt(world, "fallback"), ["early", "late"])
      const fallbackTimes = sendTimes(world.fallback)
      assert.isAtLeast(fallbackTimes[0] ?? 0, 10_000)
      assert.isAtLeast(fallbackTimes[1] ?? 0, 15_000)
    })
  )

  it.effect("both suspect: nothing goes anywhere but probes of default, however long they wait", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      world.default.setFailing(true)
      world.fallback.setFailing(true)
      yield* withDispatcher(world, { FALLBACK_AFTER: "100 millis" }, (dispatcher) =>
        Effect.gen(function* () {
          // The shared health check finds fallback failing before any payment.
          yield* settle
          yield* acceptAll(dispatcher, ids(5))
          yield* TestClock.adjust("5 seconds")
        })
      )
      assert.deepStrictEqual(world.fallback.sent, [])
      assert.deepStrictEqual(world.recorded, [])
      assert.strictEqual(world.journal.size, 5)
    })
  )
})

describe("Dispatcher: payments a processor may already hold", () => {
  it.effect("no answer pins a payment: looked up there first, and found, recorded under the first instant", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      world.default.behaviour = "storeWithoutAnswer"
      yield* withDispatcher(world, { FALLBACK_AFTER: "0 millis" }, (dispatcher) =>
        Effect.gen(function* () {
          yield* dispatcher.accept(payment("p1"))
          yield* settle
          assert.deepStrictEqual(world.recorded, [])
          yield* TestClock.adjust(nextAttempt)
        })
      )
      const [first] = world.default.sent
      assert.strictEqual(world.default.sent.length, 1)
      assert.deepStrictEqual(world.default.lookups, ["p1"])
      assert.deepStrictEqual(world.fallback.sent, [])
      assert.deepStrictEqual(
        world.recorded.map((recorded) => [recorded.processor, recorded.requestedAt]),
        [["default", first?.requestedAt]]
      )
    })
  )

  it.effect("pinned and not held yet: sent again only to its processor, under the same instant", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      world.default.behaviour = "noAnswer"
      yield* withDispatcher(world, { FALLBACK_AFTER: "0 millis" }, (dispatcher) =>
        Effect.gen(function* () {
          yield* dispatcher.accept(payment("p1"))
          yield* TestClock.adjust("2 seconds")
          world.default.behaviour = "accept"
          yield* TestClock.adjust("1 second")
        })
      )
      assert.deepStrictEqual(world.fallback.sent, [])
      assert.deepStrictEqual(world.fallback.lookups, [])
      const instants = new Set(world.default.sent.map((request) => DateTime.formatIso(request.requestedAt)))
      assert.deepStrictEqual([...instants], [DateTime.formatIso(DateTime.makeUnsafe(contestStart))])
      assert.isAtLeast(world.default.sent.length, 2)
      // Each time before it was sent again, default was asked whether it held it.
      assert.isAtLeast(world.default.lookups.length, world.default.sent.length - 1)
      assert.deepStrictEqual(recordedAt(world, "default"), ["p1"])
    })
  )

  it.effect("a 422 for a payment never sent there is another sender's: forgotten, not recorded", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      world.default.book.set("theirs", DateTime.makeUnsafe(contestStart - 1_000))
      yield* withDispatcher(world, {}, (dispatcher) =>
        Effect.gen(function* () {
          yield* dispatcher.accept(payment("theirs"))
          yield* TestClock.adjust("5 seconds")
        })
      )
      assert.strictEqual(world.default.sent.length, 1)
      assert.deepStrictEqual(world.recorded, [])
      assert.deepStrictEqual(world.forgotten, ["theirs"])
      assert.strictEqual(world.journal.size, 0)
    })
  )

  it.effect("taken back without a send record: looked up at both, recorded where it is held, not sent", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      const heldSince = DateTime.makeUnsafe(contestStart - 7_000)
      world.fallback.book.set("p1", heldSince)
      world.journal.set("p1", { ...payment("p1"), sent: Option.none() })
      world.journal.set("p2", { ...payment("p2"), sent: Option.none() })
      yield* withDispatcher(world, {}, () => settle)
      assert.deepStrictEqual(world.default.lookups.sort(), ["p1", "p2"])
      assert.deepStrictEqual(world.fallback.lookups.sort(), ["p1", "p2"])
      assert.deepStrictEqual(world.fallback.sent, [])
      assert.deepStrictEqual(
        world.recorded.map((recorded) => [recorded.correlationId, recorded.processor, recorded.requestedAt]).sort(),
        [
          ["p1", "fallback", heldSince],
          ["p2", "default", DateTime.makeUnsafe(contestStart)]
        ]
      )
    })
  )

  it.effect("taken back without a send record and a 422: looked up again, never forgotten", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      const heldSince = DateTime.makeUnsafe(contestStart - 3_000)
      world.journal.set("p1", { ...payment("p1"), sent: Option.none() })
      // Its request from before the restart reaches default only after the lookup.
      world.default.arriving.set("p1", heldSince)
      yield* withDispatcher(world, {}, () => TestClock.adjust(nextAttempt))
      assert.strictEqual(world.default.sent.length, 1)
      assert.deepStrictEqual(world.forgotten, [])
      assert.deepStrictEqual(world.default.lookups, ["p1", "p1"])
      assert.deepStrictEqual(
        world.recorded.map((recorded) => [recorded.processor, recorded.requestedAt]),
        [["default", heldSince]]
      )
    })
  )

  it.effect("taken back pinned: looked up at its processor only, then resent there under its instant", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      const sentAt = DateTime.makeUnsafe(contestStart - 2_000)
      world.journal.set("p1", { ...payment("p1"), sent: Option.some({ processor: "default", requestedAt: sentAt }) })
      yield* withDispatcher(world, { FALLBACK_AFTER: "0 millis" }, () => settle)
      assert.deepStrictEqual(world.default.lookups, ["p1"])
      assert.deepStrictEqual(world.fallback.lookups, [])
      assert.deepStrictEqual(
        world.default.sent.map((request) => request.requestedAt),
        [sentAt]
      )
      assert.deepStrictEqual(
        world.recorded.map((recorded) => [recorded.processor, recorded.requestedAt]),
        [["default", sentAt]]
      )
    })
  )
})

describe("Dispatcher: pacing, retries, failures", () => {
  it.effect("DISPATCH_RATE spaces the sends exactly: 20 payments at 40 per second, one every 25 ms", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      yield* withDispatcher(world, { DISPATCH_RATE: "40" }, (dispatcher) =>
        Effect.gen(function* () {
          yield* acceptAll(dispatcher, ids(20))
          yield* TestClock.adjust("1 second")
        })
      )
      assert.deepStrictEqual(
        sendTimes(world.default),
        Array.from({ length: 20 }, (_, index) => index * 25)
      )
      assert.strictEqual(world.recorded.length, 20)
    })
  )

  it.effect("without DISPATCH_RATE every payment is sent at once", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      yield* withDispatcher(world, {}, (dispatcher) => Effect.andThen(acceptAll(dispatcher, ids(20)), settle))
      assert.deepStrictEqual(sendTimes(world.default), Array(20).fill(0))
    })
  )

  it.effect("the retry schedule: 10 ms doubling up to 500 ms, each jittered by at most 20%", () =>
    Effect.gen(function* () {
      const step = yield* Schedule.toStep(retrySchedule)
      for (let attempt = 0; attempt < 12; attempt++) {
        const [, delay] = yield* step(0, undefined)
        const base = Math.min(10 * 2 ** attempt, 500)
        assert.isAtLeast(Duration.toMillis(delay), base * 0.8, `attempt ${attempt}`)
        assert.isAtMost(Duration.toMillis(delay), base * 1.2, `attempt ${attempt}`)
      }
    })
  )

  it.effect("a defect queues the payment again instead of stopping the worker", () =>
    Effect.gen(function* () {
      const world = makeWorld({ recordDefects: 1 })
      yield* withDispatcher(world, { DISPATCH_CONCURRENCY: "1" }, (dispatcher) =>
        Effect.gen(function* () {
          yield* dispatcher.accept(payment("p1"))
          yield* TestClock.adjust("1001 millis")
          yield* dispatcher.accept(payment("p2"))
          yield* settle
        })
      )
      // Sent once: the second try found it at default, where it was pinned.
      assert.strictEqual(world.default.sentOf("p1").length, 1)
      assert.deepStrictEqual(recordedAt(world, "default"), ["p1", "p2"])
    })
  )
})

describe("Dispatcher: stopping", () => {
  it.effect("queued payments are kept as they are; payments being sent get DRAIN_TIMEOUT to finish", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      world.default.latency = "2 seconds"
      yield* withDispatcher(world, { DISPATCH_CONCURRENCY: "2", DRAIN_TIMEOUT: "3 seconds" }, (dispatcher) =>
        Effect.andThen(acceptAll(dispatcher, ids(4)), settle)
      )
      assert.deepStrictEqual(recordedAt(world, "default"), ["p0", "p1"])
      assert.deepStrictEqual(world.default.sent.length, 2)
      assert.deepStrictEqual(
        [...world.journal.values()].map((kept) => [kept.correlationId, kept.sent]),
        [
          ["p2", Option.none()],
          ["p3", Option.none()]
        ]
      )
    })
  )

  it.effect("a request cut off by DRAIN_TIMEOUT is kept pinned to its processor under its instant", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      world.default.latency = "5 seconds"
      yield* withDispatcher(world, { DRAIN_TIMEOUT: "200 millis" }, (dispatcher) =>
        Effect.andThen(dispatcher.accept(payment("p1")), settle)
      )
      assert.deepStrictEqual(world.recorded, [])
      assert.deepStrictEqual(
        world.journal.get("p1")?.sent,
        Option.some({ processor: "default", requestedAt: DateTime.makeUnsafe(contestStart) })
      )
    })
  )
})
