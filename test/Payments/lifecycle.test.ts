import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as HttpApiClient from "effect/http-api/HttpApiClient"
import { exited, freePort, spawnNode } from "../../local/Processes.ts"
import { Api } from "../../src/Payments/Api.ts"
import {
  dispatchModes,
  type Environment,
  environment,
  eventually,
  instanceEnv,
  newPayment,
  pendingRows,
  processorsSummary,
  setConditions,
  totalRecorded
} from "../support/Payments.ts"

describe.each(dispatchModes)("lifecycle, $name", (mode) => {
  /** One API process, as a container runs it, with a stable INSTANCE_ID across restarts. */
  const apiProcess = (env: Environment, overrides: Readonly<Record<string, string>> = {}) =>
    Effect.gen(function* () {
      const port = yield* freePort
      const server = yield* spawnNode(
        "src/Payments/main.ts",
        instanceEnv(env, { PORT: String(port), INSTANCE_ID: "api01", ...mode.env, ...overrides }),
        /Listening on/
      )
      const client = yield* HttpApiClient.make(Api, { baseUrl: `http://127.0.0.1:${port}` })
      return { server, client }
    })

  const payAll = (client: HttpApiClient.ForApi<typeof Api>, count: number) =>
    Effect.forEach(
      Array.from({ length: count }, () => newPayment()),
      (payload) => client.payments.pay({ payload }),
      { concurrency: 10, discard: true }
    ).pipe(Effect.orDie)

  /** SIGTERM, and the exit code once it has stopped. */
  const terminate = (child: import("node:child_process").ChildProcess) =>
    Effect.suspend(() => {
      child.kill("SIGTERM")
      return exited(child)
    })

  it.live(
    "SIGTERM keeps the payments it could not dispatch; the same instance sends them after its restart",
    () =>
      Effect.gen(function* () {
        const env = yield* environment()
        yield* setConditions(env.processorDefault, 0, true)
        yield* setConditions(env.processorFallback, 0, true)
        const first = yield* apiProcess(env, { DRAIN_TIMEOUT: "500 millis" })
        yield* payAll(first.client, 30)
        assert.include([0, 130, 143], yield* terminate(first.server.child))
        assert.include(first.server.output(), "kept 30 undispatched payments")
        const kept = yield* pendingRows(env)
        assert.strictEqual(kept.length, 30)
        assert.isTrue(kept.every((row) => row.owner === "api01"))

        yield* setConditions(env.processorDefault, 0, false)
        const second = yield* apiProcess(env)
        assert.include(second.server.output(), "taking back 30 undispatched payments")
        const recorded = yield* eventually(
          second.client.payments.summary({ query: {} }).pipe(Effect.orDie),
          (summary) => totalRecorded(summary) === 30
        )
        assert.deepStrictEqual(recorded, yield* processorsSummary(env))
        assert.strictEqual(recorded.default.totalRequests, 30)
        assert.strictEqual((yield* pendingRows(env)).length, 0)
      }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)),
    30_000
  )

  it.live(
    "SIGTERM with payments in flight: they finish within the drain bound and are recorded before exit",
    () =>
      Effect.gen(function* () {
        const env = yield* environment()
        yield* setConditions(env.processorDefault, 600, false)
        const service = yield* apiProcess(env, { DRAIN_TIMEOUT: "3 seconds" })
        yield* payAll(service.client, 20)
        yield* Effect.sleep("100 millis")
        assert.include([0, 130, 143], yield* terminate(service.server.child))
        const stored = yield* processorsSummary(env)
        assert.strictEqual(stored.default.totalRequests, 20)
        assert.strictEqual((yield* pendingRows(env)).length, 0)
        // Nothing to take back: a new instance finds them all recorded already.
        const next = yield* apiProcess(env)
        assert.deepStrictEqual(yield* next.client.payments.summary({ query: {} }).pipe(Effect.orDie), stored)
      }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)),
    30_000
  )

  it.live(
    "SIGTERM mid-request to a slow processor: the payments stay pinned to it and are found there after restart",
    () =>
      Effect.gen(function* () {
        const env = yield* environment()
        // Slower than the drain bound: the requests are cut off, yet default stores them.
        yield* setConditions(env.processorDefault, 1500, false)
        const service = yield* apiProcess(env, { DRAIN_TIMEOUT: "200 millis", FALLBACK_AFTER: "0 millis" })
        yield* payAll(service.client, 10)
        yield* Effect.sleep("100 millis")
        assert.include([0, 130, 143], yield* terminate(service.server.child))
        const kept = yield* pendingRows(env)
        assert.strictEqual(kept.length, 10)
        assert.isTrue(kept.every((row) => row.sent_to === "default"))

        // The requests cut off still complete at default, which then starts
        // failing: the kept payments must be found there, not sent to
        // fallback, although fallback is fine and allowed at once.
        yield* eventually(processorsSummary(env), (stored) => stored.default.totalRequests === 10)
        yield* setConditions(env.processorDefault, 0, true)
        const next = yield* apiProcess(env, { FALLBACK_AFTER: "0 millis" })
        const recorded = yield* eventually(
          next.client.payments.summary({ query: {} }).pipe(Effect.orDie),
          (summary) => totalRecorded(summary) === 10
        )
        assert.deepStrictEqual(recorded, yield* processorsSummary(env))
        assert.strictEqual(recorded.default.totalRequests, 10)
        assert.strictEqual(recorded.fallback.totalRequests, 0)
      }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)),
    30_000
  )

  it.live(
    "JOURNAL on: kill -9 loses no accepted payment, and one already at a processor is found there, not sent twice",
    () =>
      Effect.gen(function* () {
        const env = yield* environment()
        // Ten reach default (slow, then stored); ten more cannot go anywhere.
        yield* setConditions(env.processorDefault, 800, false)
        const killed = yield* apiProcess(env, { JOURNAL: "true" })
        yield* payAll(killed.client, 10)
        yield* Effect.sleep("100 millis")
        yield* setConditions(env.processorFallback, 0, true)
        yield* setConditions(env.processorDefault, 800, true)
        yield* payAll(killed.client, 10)
        killed.server.child.kill("SIGKILL")
        yield* exited(killed.server.child)
        const journaled = yield* pendingRows(env)
        assert.strictEqual(journaled.length, 20)
        assert.isTrue(journaled.every((row) => row.sent_to === null))

        // The first ten complete at default although their sender is gone.
        yield* eventually(processorsSummary(env), (stored) => stored.default.totalRequests === 10)
        yield* setConditions(env.processorDefault, 0, false)
        yield* setConditions(env.processorFallback, 0, false)
        const next = yield* apiProcess(env, { JOURNAL: "true", FALLBACK_AFTER: "0 millis" })
        const recorded = yield* eventually(
          next.client.payments.summary({ query: {} }).pipe(Effect.orDie),
          (summary) => totalRecorded(summary) === 20
        )
        assert.deepStrictEqual(recorded, yield* processorsSummary(env))
        assert.strictEqual(recorded.default.totalRequests, 20)
        assert.strictEqual((yield* pendingRows(env)).length, 0)
      }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)),
    30_000
  )
})
