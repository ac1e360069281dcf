import * as Effect from "effect/Effect"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as HttpApiError from "effect/http-api/HttpApiError"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { AdminAuthorization, ProcessorSimApi } from "./Api.ts"
import { Processor } from "./Processor.ts"

const processed = { message: "payment processed successfully" } as const

const PaymentsLive = HttpApiBuilder.group(ProcessorSimApi, "payments", (handlers) =>
  Effect.gen(function* () {
    const processor = yield* Processor
    return (
      handlers
        // Node interrupts the handler when the client disconnects; the real
        // processor still processes the payment, so this one must not stop.
        .handle("process", ({ payload }) => Effect.as(processor.process(payload), processed), { uninterruptible: true })
        .handle("health", () => processor.health())
        .handle("find", ({ params }) => processor.find(params.id))
    )
  })
)

const AdminLive = HttpApiBuilder.group(ProcessorSimApi, "admin", (handlers) =>
  Effect.gen(function* () {
    const processor = yield* Processor
    return handlers
      .handle("summary", ({ query }) => processor.summary(query))
      .handle("setToken", ({ payload }) => processor.setToken(payload.token))
      .handle("setDelay", ({ payload }) => processor.setDelay(payload.delay))
      .handle("setFailure", ({ payload }) => processor.setFailure(payload.failure))
      .handle("purge", () => Effect.as(processor.purge(), { message: "All payments purged." }))
      .handle("stats", () => processor.stats())
  })
)

/** The token check of every `/admin/*` route, before its payload is even read. */
export const AdminAuthorizationLive = Layer.effect(
  AdminAuthorization,
  Effect.gen(function* () {
    const processor = yield* Processor
    return AdminAuthorization.of({
      token: (httpEffect, { credential }) =>
        processor.isCurrentToken(Redacted.value(credential)).pipe(
          Effect.flatMap((valid) => (valid ? Effect.void : Effect.fail(new HttpApiError.Unauthorized()))),
          Effect.andThen(httpEffect)
        )
    })
  })
)

/** Every route of the simulator. */
export const ProcessorSimHttp = Layer.mergeAll(PaymentsLive, AdminLive)
