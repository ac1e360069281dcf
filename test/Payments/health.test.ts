import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as TestClock from "effect/testing/TestClock"
import { ProcessorHealth } from "../../src/Payments/Health.ts"
import * as Policy from "../../src/Payments/Policy.ts"
import { contestStart, healthLayer, makeWorld, settle, start, type World } from "./doubles.ts"

const fresh: Policy.Routable = { acceptedAt: contestStart, pinnedTo: Option.none() }

/** One instance's ProcessorHealth over `world`, running until the test's end. */
const instance = (world: World, settings: Readonly<Record<string, string>> = {}) =>
  Effect.map(start(healthLayer(world, settings)), (service) => ({
    health: Context.get(service.context, ProcessorHealth),
    stop: service.stop
  }))

const relative = (times: ReadonlyArray<number>) => times.map((time) => time - contestStart)

describe("ProcessorHealth: the shared health check", () => {
  it.effect("the claim limits health calls: two instances polling every 20 ms call each endpoint once per 5.5 s", () =>
    Effect.gen(function* () {
      const world = makeWorld({ healthCallIntervalMs: 5500 })
      const first = yield* instance(world, { HEALTH_POLL: "20 millis" })
      const second = yield* instance(world, { HEALTH_POLL: "20 millis" })
      yield* TestClock.adjust("20 seconds")
      assert.deepStrictEqual(relative(world.default.healthCalls), [0, 5500, 11000, 16500])
      assert.deepStrictEqual(relative(world.fallback.healthCalls), [0, 5500, 11000, 16500])
      yield* first.stop
      yield* second.stop
    })
  )

  it.effect("what the instance holding the claim found, every instance acts on", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      world.default.failing = true
      const caller = yield* instance(world)
      const reader = yield* instance(world)
      yield* settle
      // Only one of them called default's endpoint; both believe it.
      assert.strictEqual(world.default.healthCalls.length, 1)
      assert.deepStrictEqual(yield* caller.health.route(fresh), Policy.Route.Wait())
      assert.deepStrictEqual(yield* reader.health.route(fresh), Policy.Route.Wait())
      // Healthy again: the first poll 5.5 s after the call (every HEALTH_POLL, 1 s) calls again, and both believe that.
      world.default.failing = false
      yield* TestClock.adjust("5999 millis")
      assert.strictEqual(world.default.healthCalls.length, 1)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(world.default.healthCalls.length, 2)
      assert.deepStrictEqual(yield* reader.health.route(fresh), Policy.Route.Send({ processor: "default" }))
      yield* caller.stop
      yield* reader.stop
    })
  )

  it.effect("a report read within 15 s of its call counts; an older one is ignored", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      // Another instance just claimed the next call: these read the report only.
      world.reports.claimedAt.default = contestStart
      world.reports.set("default", true, contestStart - 16_000)
      const stale = yield* instance(world)
      yield* settle
      assert.deepStrictEqual(yield* stale.health.route(fresh), Policy.Route.Send({ processor: "default" }))
      yield* stale.stop

      world.reports.claimedAt.default = contestStart
      world.reports.set("default", true, contestStart - 14_000)
      const recent = yield* instance(world)
      yield* settle
      assert.deepStrictEqual(yield* recent.health.route(fresh), Policy.Route.Wait())
      assert.deepStrictEqual(world.default.healthCalls, [])
      yield* recent.stop
    })
  )

  it.effect("a health endpoint that cannot be reached leaves the shared report as it was", () =>
    Effect.gen(function* () {
      const world = makeWorld()
      world.default.unreachable = true
      world.reports.set("default", true, contestStart - 1_000)
      const service = yield* instance(world)
      yield* settle
      assert.strictEqual(world.default.healthCalls.length, 1)
      assert.deepStrictEqual(world.reports.reports.default, { failing: true, at: contestStart - 1_000 })
      assert.deepStrictEqual(yield* service.health.route(fresh), Policy.Route.Wait())
      yield* service.stop
    })
  )
})
