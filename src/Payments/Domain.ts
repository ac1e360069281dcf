import * as Schema from "effect/Schema"

/** The two Payment Processors: `default` charges 5%, `fallback` 15%. */
export const ProcessorName = Schema.Literals(["default", "fallback"])
export type ProcessorName = typeof ProcessorName.Type

export const processorNames: ReadonlyArray<ProcessorName> = ProcessorName.literals

/** Unique per payment; the processors refuse a second payment with the same one. */
export const CorrelationId = Schema.String.check(Schema.isUUID())
export type CorrelationId = typeof CorrelationId.Type

/**
 * The processors' own limit (ten million; see src/ProcessorSim/Domain.ts): a
 * payment they would refuse could never be dispatched, so it is refused here.
 */
const maxAmount = 10_000_000

const hasCents = Schema.makeFilter<number>(
  (amount) => Number(amount.toFixed(2)) === amount || "must have at most 2 decimal places"
)

/**
 * Money: a positive decimal with at most 2 decimal places. More precision is
 * refused, not rounded: the processors round to the cent, and a service that
 * silently changed an amount could not be audited.
 */
export const Amount = Schema.Finite.check(
  Schema.isGreaterThanOrEqualTo(0.01),
  Schema.isLessThanOrEqualTo(maxAmount),
  hasCents
)

/** The body of `POST /payments`. Extra keys are ignored. */
export const PaymentRequest = Schema.Struct({ correlationId: CorrelationId, amount: Amount })
export type PaymentRequest = typeof PaymentRequest.Type

/** An amount in integer cents, as stored and summed. */
export const toCents = (amount: number): number => Math.round(amount * 100)

export const ProcessorTotals = Schema.Struct({ totalRequests: Schema.Int, totalAmount: Schema.Finite })

/** The answer of `GET /payments-summary`. */
export const PaymentsSummary = Schema.Struct({ default: ProcessorTotals, fallback: ProcessorTotals })
export type PaymentsSummary = typeof PaymentsSummary.Type

/** `GET /payments-summary?from&to`: ISO-8601 instants, each optional (absent = unbounded). */
export const SummaryRange = {
  from: Schema.optional(Schema.DateTimeUtcFromString),
  to: Schema.optional(Schema.DateTimeUtcFromString)
}
