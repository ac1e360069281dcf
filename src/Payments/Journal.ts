import { hostname } from "node:os"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as RequestResolver from "effect/RequestResolver"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as SqlResolver from "effect/sql/SqlResolver"
import { makeDatabaseEdge } from "../Platform/Sql.ts"
import { Cents, CorrelationId, type PaymentRequest, type PendingPayment, ProcessorName } from "./Domain.ts"

/** Whose pending payments these are across restarts: stable per instance (the compose file sets it). */
const InstanceId = Config.String("INSTANCE_ID").pipe(Config.withDefault(hostname()))

/** A payment as `journal_payments` reads it. */
const JournalRow = Schema.Struct({ owner: Schema.String, correlationId: CorrelationId, amount: Cents }).pipe(
  Schema.encodeKeys({ amount: "amountCents" })
)

/** A pending payment as `save_pending` reads it and `pending_of` answers it. */
const PendingRow = Schema.Struct({
  correlation_id: CorrelationId,
  amount_cents: Cents,
  sent_to: Schema.NullOr(ProcessorName),
  sent_at: Schema.NullOr(Schema.DateTimeUtcFromString)
})
type PendingRow = typeof PendingRow.Type

/** Journal writes arriving within this window go to PostgreSQL as one statement, like records. */
const journalBatchWindow = "2 millis"

const toRow = (payment: PendingPayment): PendingRow => ({
  correlation_id: payment.correlationId,
  amount_cents: payment.amount,
  sent_to: Option.match(payment.sent, { onNone: () => null, onSome: (sent) => sent.processor }),
  sent_at: Option.match(payment.sent, { onNone: () => null, onSome: (sent) => sent.requestedAt })
})

const fromRow = (row: PendingRow): PendingPayment => ({
  correlationId: row.correlation_id,
  amount: row.amount_cents,
  sent:
    row.sent_to === null || row.sent_at === null
      ? Option.none()
      : Option.some({ processor: row.sent_to, requestedAt: row.sent_at })
})

/**
 * This instance's accepted payments that are not recorded yet, in
 * PostgreSQL's `pending_payments`, so that a restart loses none: written
 * before the 202 with JOURNAL on, saved on shutdown, taken back on start.
 * A payment's row goes when it is recorded (`record_payments`) or forgotten.
 */
export class Journal extends Context.Service<Journal>()("Payments/Journal", {
  make: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const edge = yield* makeDatabaseEdge
    const owner = yield* InstanceId
    const encodeRows = Schema.encodeEffect(Schema.Array(PendingRow))
    const decodeRows = Schema.decodeUnknownEffect(Schema.Array(PendingRow))

    const journalResolver = SqlResolver.void({
      Request: JournalRow,
      execute: (payments) => sql`SELECT journal_payments(${JSON.stringify(payments)}::jsonb)`
    }).pipe(RequestResolver.setDelay(journalBatchWindow))

    /** Before the 202 (JOURNAL on): batched with the other fibers' payments. */
    const write = (payment: PaymentRequest) =>
      edge(
        SqlResolver.request({ owner, correlationId: payment.correlationId, amount: payment.amount }, journalResolver)
      )

    /** On shutdown: the payments not recorded, with where each may have been sent. Answers how many were kept. */
    const save = Effect.fn("Journal.save")(function* (payments: ReadonlyArray<PendingPayment>) {
      if (payments.length === 0) return 0
      const rows = yield* encodeRows(payments.map(toRow))
      const [saved] = yield* sql<{
        saved: number
      }>`SELECT save_pending(${owner}, ${JSON.stringify(rows)}::jsonb) AS saved`
      return saved?.saved ?? 0
    }, edge)

    /** On start: what this instance left. The rows stay until recorded, so a crash now loses none. */
    const takeBack = Effect.fn("Journal.takeBack")(function* () {
      const rows = yield* decodeRows(yield* sql`SELECT * FROM pending_of(${owner})`)
      return rows.map(fromRow)
    }, edge)

    /** A payment that turned out to be another sender's: nothing of ours to dispatch. */
    const forget = Effect.fn("Journal.forget")(function* (correlationId: CorrelationId) {
      yield* sql`SELECT forget_pending(${correlationId})`
    }, edge)

    return { write, save, takeBack, forget } as const
  })
}) {
  static readonly layer = Layer.effect(this, this.make)
}
