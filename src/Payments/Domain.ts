import type * as DateTime from "effect/DateTime"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"
import { Instant } from "../Platform/Validation.ts"

/** The two Payment Processors: `default` charges 5%, `fallback` 15%. */
export const ProcessorName = Schema.Literals(["default", "fallback"])
export type ProcessorName = typeof ProcessorName.Type

export const processorNames: ReadonlyArray<ProcessorName> = ProcessorName.literals

/** Unique per payment; the processors refuse a second payment with the same one. */
export const CorrelationId = Schema.String.check(Schema.isUUID())
export type CorrelationId = typeof CorrelationId.Type

/**
 * Money inside the service: whole cents, so that sums stay exact. Decimals
 * exist only on the wire: decoded once from `POST /payments`, rendered for
 * the processors' request and for the summary's answer.
 */
export const Cents = Schema.Int.pipe(Schema.brand("Cents"))
export type Cents = typeof Cents.Type

/**
 * The decimal of an amount in cents, as JSON prints it: the division is
 * correctly rounded, so the result is the double nearest to the exact decimal.
 */
export const toDecimal = (cents: number): number => cents / 100

const centsFromDecimal = SchemaTransformation.transform<number, number>({
  decode: (decimal) => Math.round(decimal * 100),
  encode: toDecimal
})

/**
 * The processors' own limit (ten million; see src/ProcessorSim/Domain.ts): a
 * payment they would refuse could never be dispatched, so it is refused here.
 */
const maxAmount = 10_000_000

const hasCents = Schema.makeFilter<number>(
  (amount) => Number(amount.toFixed(2)) === amount || "must have at most 2 decimal places",
  { toJsonSchema: () => ({ multipleOf: 0.01 }) }
)

/**
 * A payment's amount: on the wire a positive decimal with at most 2 decimal
 * places, inside the service its cents. More precision is refused, not
 * rounded: the processors round to the cent, and a service that silently
 * changed an amount could not be audited.
 */
export const Amount = Schema.Finite.check(
  Schema.isGreaterThanOrEqualTo(0.01),
  Schema.isLessThanOrEqualTo(maxAmount),
  hasCents
).pipe(Schema.decodeTo(Cents, centsFromDecimal))

/** The body of `POST /payments`, and a payment from the moment it is accepted. */
export const PaymentRequest = Schema.Struct({ correlationId: CorrelationId, amount: Amount })
export type PaymentRequest = typeof PaymentRequest.Type

/** A request to a processor that may have stored the payment: it did, if at all, under this instant. */
export interface Sent {
  readonly processor: ProcessorName
  readonly requestedAt: DateTime.Utc
}

/**
 * An accepted payment not recorded yet, in the dispatcher or kept across a
 * restart. `sent` is set before each request and cleared only when the
 * processor answered that it stored nothing: a processor finishes requests
 * whose client gave up, so until then it may hold the payment.
 */
export interface PendingPayment extends PaymentRequest {
  readonly sent: Option.Option<Sent>
}

/** A payment a processor holds: what the summary counts. */
export interface RecordedPayment extends PaymentRequest, Sent {}

/** The total of many payments: whole cents on the inside, a decimal in the answer. */
const TotalAmount = Schema.Finite.pipe(Schema.decodeTo(Cents, centsFromDecimal))

export const ProcessorTotals = Schema.Struct({ totalRequests: Schema.Int, totalAmount: TotalAmount })
export type ProcessorTotals = typeof ProcessorTotals.Type

/** The answer of `GET /payments-summary`. */
export const PaymentsSummary = Schema.Struct({ default: ProcessorTotals, fallback: ProcessorTotals })
export type PaymentsSummary = typeof PaymentsSummary.Type

/** `GET /payments-summary?from&to`: ISO-8601 instants, each optional (absent = unbounded). */
export const SummaryRange = {
  from: Schema.optional(Instant),
  to: Schema.optional(Instant)
}
