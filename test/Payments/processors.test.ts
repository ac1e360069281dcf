import { randomUUID } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { freePort } from "../../local/Processes.ts"
import { Cents } from "../../src/Payments/Domain.ts"
import { Processors, SendOutcome } from "../../src/Payments/Processors.ts"
import { live, setConditions, simulator } from "../support/Payments.ts"

/** The client against a real simulator as `default`, and nothing listening as `fallback`. */
const client = Effect.gen(function* () {
  const processor = yield* simulator("0.05")
  const nowhere = yield* freePort
  const context = yield* Layer.build(
    Processors.layer.pipe(
      Layer.provide(
        ConfigProvider.layer(
          ConfigProvider.fromUnknown({
            PROCESSOR_DEFAULT_URL: processor.url,
            PROCESSOR_FALLBACK_URL: `http://127.0.0.1:${nowhere}`,
            PROCESSOR_TIMEOUT: "300 millis"
          })
        )
      )
    )
  )
  return { processor, processors: Context.get(context, Processors) }
})

const payment = () => ({ correlationId: randomUUID(), amount: Cents.make(1990) })

describe("Processors: the HTTP client of the Payment Processors", () => {
  it.live("a payment goes as its decimal under the instant given; the processor's answers become outcomes", () =>
    live(
      Effect.gen(function* () {
        const { processor, processors } = yield* client
        const sent = payment()
        const requestedAt = DateTime.makeUnsafe("2025-07-15T12:00:00.123Z")
        assert.deepStrictEqual(yield* processors.send("default", sent, requestedAt), SendOutcome.Accepted())
        assert.deepStrictEqual(yield* processors.send("default", sent, requestedAt), SendOutcome.AlreadyHeld())
        const summary = yield* processor.admin.summary({ query: {} }).pipe(Effect.orDie)
        assert.strictEqual(summary.totalAmount, 19.9)
        assert.deepStrictEqual(yield* processors.holding("default", sent.correlationId), Option.some(requestedAt))
        assert.deepStrictEqual(yield* processors.holding("default", randomUUID()), Option.none())

        yield* setConditions(processor, 0, true)
        assert.deepStrictEqual(yield* processors.send("default", payment(), requestedAt), SendOutcome.Refused())
        assert.deepStrictEqual(yield* processors.health("default"), { failing: true, minResponseTime: 0 })
      })
    )
  )

  it.live(
    "slower than PROCESSOR_TIMEOUT: no answer, though the processor stores it; slower but within it: awaited",
    () =>
      live(
        Effect.gen(function* () {
          const { processor, processors } = yield* client
          const requestedAt = DateTime.makeUnsafe("2025-07-15T12:00:00.000Z")
          yield* setConditions(processor, 200, false)
          assert.deepStrictEqual(yield* processors.send("default", payment(), requestedAt), SendOutcome.Accepted())
          yield* setConditions(processor, 1000, false)
          const late = payment()
          assert.deepStrictEqual(yield* processors.send("default", late, requestedAt), SendOutcome.NoAnswer())
          yield* Effect.sleep("900 millis")
          assert.deepStrictEqual(yield* processors.holding("default", late.correlationId), Option.some(requestedAt))
        })
      )
  )

  it.live("a processor that cannot be reached: no answer to a payment, a tagged failure to a lookup", () =>
    live(
      Effect.gen(function* () {
        const { processors } = yield* client
        const requestedAt = DateTime.makeUnsafe("2025-07-15T12:00:00.000Z")
        assert.deepStrictEqual(yield* processors.send("fallback", payment(), requestedAt), SendOutcome.NoAnswer())
        const lookup = yield* Effect.exit(processors.holding("fallback", randomUUID()))
        assert.isTrue(Exit.isFailure(lookup))
        const health = yield* Effect.flip(processors.health("fallback"))
        assert.strictEqual(health._tag, "ProcessorUnreachable")
      })
    )
  )
})
