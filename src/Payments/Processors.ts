import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type { CorrelationId, ProcessorName } from "./Domain.ts"

/** Where the processors answer: the contest's addresses by default. */
const ProcessorsConfig = Config.all({
  default: Config.URL("PROCESSOR_DEFAULT_URL").pipe(
    Config.withDefault(new URL("http://payment-processor-default:8080"))
  ),
  fallback: Config.URL("PROCESSOR_FALLBACK_URL").pipe(
    Config.withDefault(new URL("http://payment-processor-fallback:8080"))
  ),
  /**
   * How long one request to a processor may take before its outcome counts
   * as unknown. Above the contest's slowest healthy `default` (100 ms) by far,
   * and short enough that a hung processor is noticed within a few seconds.
   */
  timeout: Config.Duration("PROCESSOR_TIMEOUT").pipe(Config.withDefault("3 seconds"))
})

/** What the processor was sent: the amount as the client gave it, and the instant the processor audits by. */
export interface ProcessorPayment {
  readonly correlationId: CorrelationId
  readonly amount: number
  readonly requestedAt: string
}

/**
 * What one request to a processor established.
 * - `Accepted`: it stored the payment now.
 * - `AlreadyHeld`: 422, it held that correlationId before this request.
 * - `Refused`: it answered and stored nothing (500 while failing, 429 when full).
 * - `Unknown`: no answer (timeout, connection lost); it may still store it,
 *   since a processor finishes requests whose client gave up.
 */
export type SendOutcome =
  | { readonly _tag: "Accepted" }
  | { readonly _tag: "AlreadyHeld" }
  | { readonly _tag: "Refused"; readonly status: number }
  | { readonly _tag: "Unknown" }

const accepted: SendOutcome = { _tag: "Accepted" }
const alreadyHeld: SendOutcome = { _tag: "AlreadyHeld" }
const unknown: SendOutcome = { _tag: "Unknown" }

export const ServiceHealth = Schema.Struct({ failing: Schema.Boolean, minResponseTime: Schema.Int })
export type ServiceHealth = typeof ServiceHealth.Type

/** The two Payment Processors over HTTP. */
export class Processors extends Context.Service<Processors>()("Payments/Processors", {
  make: Effect.gen(function* () {
    const config = yield* ProcessorsConfig
    const http = yield* HttpClient.HttpClient
    const clients = {
      default: http.pipe(HttpClient.mapRequest(HttpClientRequest.prependUrl(config.default.href.replace(/\/$/, "")))),
      fallback: http.pipe(HttpClient.mapRequest(HttpClientRequest.prependUrl(config.fallback.href.replace(/\/$/, ""))))
    } satisfies Record<ProcessorName, HttpClient.HttpClient>
    const decodeHealth = Schema.decodeUnknownEffect(ServiceHealth)

    const send = Effect.fn("Processors.send")(
      function* (processor: ProcessorName, payment: ProcessorPayment) {
        const response = yield* clients[processor]
          .execute(HttpClientRequest.post("/payments").pipe(HttpClientRequest.bodyJsonUnsafe(payment)))
          .pipe(Effect.timeout(config.timeout))
        // Reading the body lets the connection serve the next request.
        yield* response.text
        switch (response.status) {
          case 200:
            return accepted
          case 422:
            return alreadyHeld
          default:
            return { _tag: "Refused", status: response.status } satisfies SendOutcome
        }
      },
      Effect.catch(() => Effect.succeed(unknown))
    )

    /**
     * Whether the processor holds a payment: its lookup answers at once, with
     * no delay or failure applied, so it settles a request that timed out
     * faster than sending again (whose 422 would come only after the delay).
     */
    const holds = Effect.fn("Processors.holds")(function* (processor: ProcessorName, correlationId: CorrelationId) {
      const response = yield* clients[processor].get(`/payments/${correlationId}`).pipe(Effect.timeout(config.timeout))
      yield* response.text
      if (response.status === 200) return true
      if (response.status === 404) return false
      return yield* Effect.fail(new Error(`GET /payments/{id} answered ${response.status}`))
    })

    /** The rate-limited health endpoint; callers make sure it is called rarely enough. */
    const health = Effect.fn("Processors.health")(function* (processor: ProcessorName) {
      const response = yield* clients[processor].get("/payments/service-health").pipe(Effect.timeout(config.timeout))
      if (response.status !== 200) return yield* Effect.fail(new Error(`service-health answered ${response.status}`))
      return yield* decodeHealth(yield* response.json)
    })

    return { send, holds, health } as const
  })
}) {
  static readonly layer = Layer.effect(this, this.make)
}
