import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Pool } from "undici"
import { makeSpanWhenTraced } from "../Platform/Observability.ts"
import { type CorrelationId, type PaymentRequest, type ProcessorName, toDecimal } from "./Domain.ts"

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
   * undici checks it on a coarse timer of its own that ticks every half
   * second: it fires up to half a second late, and never before one second.
   */
  timeout: Config.Duration("PROCESSOR_TIMEOUT").pipe(Config.withDefault("3 seconds"))
})

/**
 * What one payment request to a processor established.
 * - `Accepted`: it stored the payment now.
 * - `AlreadyHeld`: 422, it held that correlationId before this request.
 * - `Refused`: it answered and stored nothing (500 while failing, 429 when full).
 * - `NoAnswer`: a timeout or a lost connection; it may still store the
 *   payment, since a processor finishes requests whose client gave up.
 */
export type SendOutcome = Data.TaggedEnum<{
  Accepted: Record<never, never>
  AlreadyHeld: Record<never, never>
  Refused: Record<never, never>
  NoAnswer: Record<never, never>
}>
export const SendOutcome = Data.taggedEnum<SendOutcome>()

const accepted = SendOutcome.Accepted()
const alreadyHeld = SendOutcome.AlreadyHeld()
const refused = SendOutcome.Refused()
const noAnswer = SendOutcome.NoAnswer()

/** No answer within PROCESSOR_TIMEOUT, or the connection failed. */
export class ProcessorUnreachable extends Data.TaggedError("ProcessorUnreachable")<{
  readonly processor: ProcessorName
  readonly request: string
  readonly cause: unknown
}> {}

/** An answer the contract does not allow for this request. */
export class UnexpectedAnswer extends Data.TaggedError("UnexpectedAnswer")<{
  readonly processor: ProcessorName
  readonly request: string
  readonly status: number
}> {}

export type ProcessorError = ProcessorUnreachable | UnexpectedAnswer

/** What a processor's health endpoint says. */
export const ServiceHealth = Schema.Struct({ failing: Schema.Boolean, minResponseTime: Schema.Int })
export type ServiceHealth = typeof ServiceHealth.Type

const decodeHealth = Schema.decodeUnknownOption(Schema.fromJsonString(ServiceHealth))
const decodeHeld = Schema.decodeUnknownOption(
  Schema.fromJsonString(Schema.Struct({ requestedAt: Schema.DateTimeUtcFromString }))
)

/** An answer of a processor: its status and its body, read to the end. */
interface Answer {
  readonly status: number
  readonly body: string
}

/**
 * The two Payment Processors over HTTP, through one undici connection pool
 * each (kept-alive connections, as many as payments in flight). undici
 * directly rather than Effect's HttpClient: measured on this machine, 0.12
 * instead of 0.27 ms of CPU per request, and the dispatcher sends one
 * request per payment from a 0.6-CPU process that also serves the API.
 */
export class Processors extends Context.Service<Processors>()("Payments/Processors", {
  make: Effect.gen(function* () {
    const config = yield* ProcessorsConfig
    const timeoutMs = Duration.toMillis(config.timeout)
    const pool = (url: URL) =>
      Effect.acquireRelease(
        Effect.sync(() => new Pool(url.origin, { keepAliveTimeout: 30_000 })),
        (opened) => Effect.promise(() => opened.destroy())
      )
    const pools: Record<ProcessorName, Pool> = {
      default: yield* pool(config.default),
      fallback: yield* pool(config.fallback)
    }

    /** One request; fails when no answer came within the timeout. Interrupting it aborts it. */
    const call = (processor: ProcessorName, method: "GET" | "POST", path: string, body?: string) =>
      Effect.tryPromise({
        try: async (signal): Promise<Answer> => {
          const response = await pools[processor].request({
            method,
            path,
            signal,
            headersTimeout: timeoutMs,
            bodyTimeout: timeoutMs,
            ...(body === undefined ? {} : { body, headers: { "content-type": "application/json" } })
          })
          return { status: response.statusCode, body: await response.body.text() }
        },
        catch: (cause) => new ProcessorUnreachable({ processor, request: `${method} ${path}`, cause })
      })

    const spanned = yield* makeSpanWhenTraced

    /**
     * Sends a payment under `requestedAt`: the only place its amount becomes a
     * decimal again. Not `Effect.fn`: it runs for every attempt of every payment.
     */
    const send = Effect.fnUntraced(
      function* (processor: ProcessorName, payment: PaymentRequest, requestedAt: DateTime.Utc) {
        const body = JSON.stringify({
          correlationId: payment.correlationId,
          amount: toDecimal(payment.amount),
          requestedAt: DateTime.formatIso(requestedAt)
        })
        const { status } = yield* call(processor, "POST", "/payments", body)
        switch (status) {
          case 200:
            return accepted
          case 422:
            return alreadyHeld
          default:
            return refused
        }
      },
      Effect.catchTag("ProcessorUnreachable", () => Effect.succeed(noAnswer)),
      spanned("Processors.send")
    )

    /**
     * The requestedAt under which the processor holds a payment, if it does.
     * Its lookup answers at once, with no delay or failure applied, so it
     * settles a request that got no answer faster than sending again (whose
     * 422 would come only after the delay).
     */
    const holding = Effect.fn("Processors.holding")(function* (processor: ProcessorName, correlationId: CorrelationId) {
      const request = `GET /payments/${correlationId}`
      const { body, status } = yield* call(processor, "GET", `/payments/${correlationId}`)
      if (status === 404) return Option.none<DateTime.Utc>()
      const held = status === 200 ? decodeHeld(body) : Option.none()
      if (Option.isNone(held)) return yield* new UnexpectedAnswer({ processor, request, status })
      return Option.some(held.value.requestedAt)
    })

    /** The rate-limited health endpoint; callers make sure it is called rarely enough. */
    const health = Effect.fn("Processors.health")(function* (processor: ProcessorName) {
      const request = "GET /payments/service-health"
      const { body, status } = yield* call(processor, "GET", "/payments/service-health")
      const answer = status === 200 ? decodeHealth(body) : Option.none()
      if (Option.isNone(answer)) return yield* new UnexpectedAnswer({ processor, request, status })
      return answer.value
    })

    return { send, holding, health } as const
  })
}) {
  static readonly layer = Layer.effect(this, this.make)
}
