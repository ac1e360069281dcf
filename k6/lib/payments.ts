/**
 * What k6/payments.ts writes to RESULT_FILE and the harness reads back,
 * declared once for both. k6 imports only the type, which disappears when k6
 * strips the TypeScript, so this module never runs inside k6; the harness
 * decodes the file with the Schema.
 */
import * as Schema from "effect/Schema"

/** One processor at the end of the run: the service's count and amount, and what the processor holds. */
const ProcessorTotals = Schema.Struct({
  totalRequests: Schema.Number,
  totalAmount: Schema.Number,
  processorRequests: Schema.Number,
  feePerTransaction: Schema.Number
})

export const PaymentsResult = Schema.Struct({
  requested: Schema.Number,
  recorded: Schema.Number,
  lag: Schema.Number,
  disqualified: Schema.Boolean,
  inconsistencies: Schema.Number,
  audits: Schema.Number,
  p99Ms: Schema.Number,
  bonus: Schema.Number,
  fine: Schema.Number,
  gross: Schema.Number,
  fees: Schema.Number,
  net: Schema.Number,
  score: Schema.Number,
  defaultShare: Schema.Number,
  processors: Schema.Struct({ default: ProcessorTotals, fallback: ProcessorTotals })
})
export type PaymentsResult = typeof PaymentsResult.Type
