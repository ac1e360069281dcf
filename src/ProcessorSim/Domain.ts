import * as HttpApiSchema from "effect/http-api/HttpApiSchema"
import * as Schema from "effect/Schema"
import { Instant } from "../Platform/Validation.ts"

export const CorrelationId = Schema.String.check(Schema.isUUID())

/**
 * Up to ten million: the cent total of nine million such payments is still an
 * exact integer, so the summaries never drift by a cent.
 */
export const Amount = Schema.Finite.check(Schema.isGreaterThan(0), Schema.isLessThanOrEqualTo(10_000_000))

/** ISO-8601; kept to the millisecond and answered in UTC. */

/** The body of `POST /payments`. */
export const PaymentRequest = Schema.Struct({ correlationId: CorrelationId, amount: Amount, requestedAt: Instant })
export type PaymentRequest = typeof PaymentRequest.Type

/** A payment the processor holds, with its amount rounded to the cent. */
export const Payment = Schema.Struct({ correlationId: Schema.String, amount: Schema.Finite, requestedAt: Instant })
export type Payment = typeof Payment.Type

export const Message = Schema.Struct({ message: Schema.String })

export const ServiceHealth = Schema.Struct({
  failing: Schema.Boolean,
  minResponseTime: Schema.Int.annotate({ description: "the configured delay, in ms" })
})
export type ServiceHealth = typeof ServiceHealth.Type

/** Both bounds inclusive; without either one the summary covers every payment. */
export const SummaryRange = Schema.Struct({ from: Schema.optionalKey(Instant), to: Schema.optionalKey(Instant) })
export type SummaryRange = typeof SummaryRange.Type

export const PaymentsSummary = Schema.Struct({
  totalRequests: Schema.Int,
  totalAmount: Schema.Finite,
  totalFee: Schema.Finite,
  feePerTransaction: Schema.Finite
})
export type PaymentsSummary = typeof PaymentsSummary.Type

export const TokenChange = Schema.Struct({ token: Schema.NonEmptyString })

const Delay = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)).annotate({ description: "ms" })

export const DelayChange = Schema.Struct({ delay: Delay })
export const DelayChanged = Schema.Struct({ config: Schema.Literal("delay"), was: Delay, is: Delay })
export type DelayChanged = typeof DelayChanged.Type

export const FailureChange = Schema.Struct({ failure: Schema.Boolean })
export const FailureChanged = Schema.Struct({
  config: Schema.Literal("failure"),
  was: Schema.Boolean,
  is: Schema.Boolean
})
export type FailureChanged = typeof FailureChanged.Type

/**
 * Counters that only the simulator has: they let the contest harness prove
 * that no client ever met the health endpoint's rate limit.
 */
export const ProcessorStats = Schema.Struct({
  healthCalls: Schema.Int.annotate({ description: "health calls answered 200" }),
  healthRejected: Schema.Int.annotate({ description: "health calls refused with 429" }),
  paymentsRejected: Schema.Int.annotate({ description: "payments refused with 429" })
})
export type ProcessorStats = typeof ProcessorStats.Type

export class PaymentNotFound extends Schema.TaggedError<PaymentNotFound>()(
  "PaymentNotFound",
  { correlationId: Schema.String },
  { httpApiStatus: 404 }
) {}

/** The correlationId is already held; nothing was stored. */
export class DuplicatePayment extends Schema.TaggedError<DuplicatePayment>()(
  "DuplicatePayment",
  { correlationId: Schema.String },
  { httpApiStatus: 422 }
) {}

/** The processor is set to fail; nothing was stored. */
export class ProcessorFailing extends Schema.TaggedError<ProcessorFailing>()(
  "ProcessorFailing",
  {},
  { httpApiStatus: 500 }
) {}

/** Every in-flight and queued place is taken. */
export class ProcessorOverloaded extends Schema.TaggedError<ProcessorOverloaded>()(
  "ProcessorOverloaded",
  {},
  { httpApiStatus: 429 }
) {}

/** The health endpoint's window and its waiting places are all taken. */
export class HealthRateLimited extends Schema.TaggedError<HealthRateLimited>()("HealthRateLimited", {}) {}

/** A rate-limited health call answers an empty 429 that says when to come back. */
export const HealthRateLimitedResponse = HealthRateLimited.pipe(
  HttpApiSchema.encodeToWithHeaders(
    { body: HttpApiSchema.Empty(429), headers: { "retry-after": Schema.Literal("5") } },
    {
      decode: () => new HealthRateLimited(),
      encode: () => ({ body: undefined, headers: { "retry-after": "5" as const } })
    }
  )
)
