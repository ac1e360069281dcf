import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as RequestResolver from "effect/RequestResolver"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import { isSqlError } from "effect/sql/SqlError"
import * as SqlResolver from "effect/sql/SqlResolver"
import { makeDatabaseEdge } from "../Platform/Sql.ts"
import {
  Cents,
  CorrelationId,
  type PaymentsSummary,
  ProcessorName,
  type ProcessorTotals,
  type RecordedPayment
} from "./Domain.ts"

/** A recorded payment as `record_payments` reads it. */
const RecordRow = Schema.Struct({
  correlationId: CorrelationId,
  processor: ProcessorName,
  amount: Cents,
  requestedAt: Schema.DateTimeUtcFromString
}).pipe(Schema.encodeKeys({ amount: "amountCents" }))

const TotalsRow = Schema.Struct({ processor: ProcessorName, total_requests: Schema.Int, total_cents: Cents })

/**
 * Records arriving within this window go to PostgreSQL as one statement: at
 * the contest's peak (and when a backlog drains) one round trip per payment
 * cost more API CPU than anything else but the HTTP requests themselves.
 */
const recordBatchWindow = "2 millis"

/** A payment a processor accepted must be counted: recording outlives a database restart. */
const recordSchedule = Schedule.min([Schedule.exponential("50 millis", 2), Schedule.spaced("2 seconds")])

/**
 * An instant as PostgreSQL reads it whatever its year: epoch milliseconds
 * for `to_timestamp` (an ISO string of a year before 1 in UTC, which RFC
 * 3339 allows with an offset, is refused by PostgreSQL).
 */
const epochMillisOrNull = (instant: Option.Option<DateTime.Utc>) =>
  Option.match(instant, { onNone: () => null, onSome: DateTime.toEpochMillis })

const noPayments: ProcessorTotals = { totalRequests: 0, totalAmount: Cents.make(0) }

/**
 * The payments the processors accepted (the `payments` table): what
 * `GET /payments-summary` counts, the same for every instance. Each
 * operation is one call to one function of sql/payments.
 */
export class Ledger extends Context.Service<Ledger>()("Payments/Ledger", {
  make: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const edge = yield* makeDatabaseEdge
    const decodeTotals = Schema.decodeUnknownEffect(Schema.Array(TotalsRow))

    const recordResolver = SqlResolver.void({
      Request: RecordRow,
      execute: (payments) => sql`SELECT record_payments(${JSON.stringify(payments)}::jsonb)`
    }).pipe(RequestResolver.setDelay(recordBatchWindow))

    /**
     * Batched with the records of other fibers; a second record of a payment
     * changes nothing. Retried while the database cannot take it.
     */
    const record = (payment: RecordedPayment) =>
      SqlResolver.request(payment, recordResolver).pipe(
        Effect.retry({ schedule: recordSchedule, while: isSqlError }),
        Effect.orDie
      )

    /** Totals per processor by requestedAt over [from, to], both inclusive; none = unbounded. */
    const summary = Effect.fn("Ledger.summary")(function* (
      from: Option.Option<DateTime.Utc>,
      to: Option.Option<DateTime.Utc>
    ) {
      const rows = yield* decodeTotals(
        yield* sql`SELECT * FROM payment_totals(to_timestamp(${epochMillisOrNull(from)}::float8 / 1000),
                                                to_timestamp(${epochMillisOrNull(to)}::float8 / 1000))`
      )
      const totals = (processor: ProcessorName): ProcessorTotals => {
        const row = rows.find((candidate) => candidate.processor === processor)
        return row === undefined ? noPayments : { totalRequests: row.total_requests, totalAmount: row.total_cents }
      }
      return { default: totals("default"), fallback: totals("fallback") } satisfies PaymentsSummary
    }, edge)

    const purge = Effect.fn("Ledger.purge")(function* () {
      yield* sql`SELECT purge_payments()`
    }, edge)

    return { record, summary, purge } as const
  })
}) {
  static readonly layer = Layer.effect(this, this.make)
}
