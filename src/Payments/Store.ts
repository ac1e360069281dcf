import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as RequestResolver from "effect/RequestResolver"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as SqlResolver from "effect/sql/SqlResolver"
import { CorrelationId, type PaymentsSummary, ProcessorName } from "./Domain.ts"

/** A payment accepted by a processor: what the summary counts. */
export const RecordedPayment = Schema.Struct({
  correlationId: CorrelationId,
  processor: ProcessorName,
  amountCents: Schema.Int,
  requestedAt: Schema.String
})
export type RecordedPayment = typeof RecordedPayment.Type

const JournaledPayment = Schema.Struct({ owner: Schema.String, correlationId: CorrelationId, amountCents: Schema.Int })

/**
 * Records (and journal entries) arriving within this window go to PostgreSQL as one statement: at
 * the contest's peak (and when a backlog drains) one round trip per payment
 * cost more API CPU than anything else but the HTTP requests themselves.
 */
const recordBatchWindow = "2 millis"

/** An accepted payment not yet recorded, as kept across a restart. */
export interface PendingPayment {
  readonly correlationId: CorrelationId
  readonly amountCents: number
  /** The processor that may hold it already, and the instant it was sent with. */
  readonly sent: Option.Option<{ readonly processor: ProcessorName; readonly requestedAt: string }>
}

const SummaryRow = Schema.Struct({ processor: ProcessorName, total_requests: Schema.Int, total_amount: Schema.Finite })

const PendingRow = Schema.Struct({
  correlation_id: CorrelationId,
  amount_cents: Schema.Int,
  sent_to: Schema.NullOr(ProcessorName),
  sent_at: Schema.NullOr(Schema.String)
})

const HealthRow = Schema.Struct({
  failing: Schema.Boolean,
  min_response_time: Schema.Int,
  age_ms: Schema.Int,
  claimed: Schema.Boolean
})
export type SharedHealth = typeof HealthRow.Type

const isoOrNull = (instant: Option.Option<DateTime.Utc>) =>
  Option.match(instant, { onNone: () => null, onSome: DateTime.formatIso })

/**
 * The service's PostgreSQL: one call to one function of sql/payments per
 * operation. Infrastructure failures are defects (no caller can do anything
 * about them), except when recording, which the dispatcher retries.
 */
export class Store extends Context.Service<Store>()("Payments/Store", {
  make: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const decodeSummary = Schema.decodeUnknownEffect(Schema.Array(SummaryRow))
    const decodePending = Schema.decodeUnknownEffect(Schema.Array(PendingRow))
    const decodeHealth = Schema.decodeUnknownEffect(HealthRow)

    const recordResolver = SqlResolver.void({
      Request: RecordedPayment,
      execute: (payments) => sql`SELECT record_payments(${JSON.stringify(payments)}::jsonb)`
    }).pipe(RequestResolver.setDelay(recordBatchWindow))

    const journalResolver = SqlResolver.void({
      Request: JournaledPayment,
      execute: (payments) => sql`SELECT journal_payments(${JSON.stringify(payments)}::jsonb)`
    }).pipe(RequestResolver.setDelay(recordBatchWindow))

    /** With JOURNAL on, before the 202: batched like records. */
    const journal = (owner: string, payment: { correlationId: CorrelationId; amountCents: number }) =>
      SqlResolver.request({ owner, ...payment }, journalResolver).pipe(Effect.orDie)

    const forget = Effect.fn("Store.forget")(function* (correlationId: CorrelationId) {
      yield* sql`SELECT forget_pending(${correlationId})`
    }, Effect.orDie)

    /**
     * Batched with the records of other fibers. Fails with SqlError: a payment
     * a processor accepted must be recorded, so the caller retries.
     */
    const record = (payment: RecordedPayment) => SqlResolver.request(payment, recordResolver)

    const summary = Effect.fn("Store.summary")(function* (
      from: Option.Option<DateTime.Utc>,
      to: Option.Option<DateTime.Utc>
    ) {
      const rows = yield* decodeSummary(
        yield* sql`SELECT * FROM payments_summary(${isoOrNull(from)}::timestamptz, ${isoOrNull(to)}::timestamptz)`
      )
      const totals = (processor: ProcessorName) => {
        const row = rows.find((candidate) => candidate.processor === processor)
        return { totalRequests: row?.total_requests ?? 0, totalAmount: row?.total_amount ?? 0 }
      }
      return { default: totals("default"), fallback: totals("fallback") } satisfies PaymentsSummary
    }, Effect.orDie)

    const purge = Effect.fn("Store.purge")(function* () {
      yield* sql`SELECT purge_payments()`
    }, Effect.orDie)

    const savePending = Effect.fn("Store.savePending")(function* (
      owner: string,
      payments: ReadonlyArray<PendingPayment>
    ) {
      const rows = payments.map((payment) => ({
        correlation_id: payment.correlationId,
        amount_cents: payment.amountCents,
        sent_to: Option.match(payment.sent, { onNone: () => null, onSome: (sent) => sent.processor }),
        sent_at: Option.match(payment.sent, { onNone: () => null, onSome: (sent) => sent.requestedAt })
      }))
      const [saved] = yield* sql<{
        saved: number
      }>`SELECT save_pending(${owner}, ${JSON.stringify(rows)}::jsonb) AS saved`
      return saved?.saved ?? 0
    }, Effect.orDie)

    const pendingOf = Effect.fn("Store.pendingOf")(function* (owner: string) {
      const rows = yield* decodePending(yield* sql`SELECT * FROM pending_of(${owner})`)
      return rows.map(
        (row): PendingPayment => ({
          correlationId: row.correlation_id,
          amountCents: row.amount_cents,
          sent:
            row.sent_to === null || row.sent_at === null
              ? Option.none()
              : Option.some({ processor: row.sent_to, requestedAt: row.sent_at })
        })
      )
    }, Effect.orDie)

    const pollHealth = Effect.fn("Store.pollHealth")(function* (processor: ProcessorName, intervalMs: number) {
      const [row] = yield* sql`SELECT * FROM poll_processor_health(${processor}, ${intervalMs})`
      return yield* decodeHealth(row)
    }, Effect.orDie)

    const reportHealth = Effect.fn("Store.reportHealth")(function* (
      processor: ProcessorName,
      failing: boolean,
      minResponseTime: number
    ) {
      yield* sql`SELECT report_processor_health(${processor}, ${failing}, ${minResponseTime})`
    }, Effect.orDie)

    return { record, journal, forget, summary, purge, savePending, pendingOf, pollHealth, reportHealth } as const
  })
}) {
  static readonly layer = Layer.effect(this, this.make)
}
