import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import { makeDatabaseEdge } from "../Platform/Sql.ts"
import type { ProcessorName } from "./Domain.ts"
import type { HealthReport } from "./Policy.ts"
import type { ServiceHealth } from "./Processors.ts"

/**
 * The least time between two calls to one processor's health endpoint, over
 * all instances: its limit is one call per 5 s, and a margin keeps network
 * jitter from making two calls look closer than that.
 */
const HealthCallInterval = Config.Duration("HEALTH_CALL_INTERVAL").pipe(Config.withDefault("5500 millis"))

const PollRow = Schema.Struct({ failing: Schema.Boolean, age_ms: Schema.Int, claimed: Schema.Boolean })

/** The shared report, and whether this caller won the turn to refresh it. */
export interface Poll {
  readonly report: HealthReport
  readonly claimed: boolean
}

/**
 * The processors' health as every instance shares it, in PostgreSQL's
 * `processor_health`: the last answer of each health endpoint, and an
 * atomic claim that lets at most one instance per HEALTH_CALL_INTERVAL call
 * it, so that all of them together stay within its rate limit.
 */
export class HealthReports extends Context.Service<HealthReports>()("Payments/HealthReports", {
  make: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const edge = yield* makeDatabaseEdge
    const intervalMs = Duration.toMillis(yield* HealthCallInterval)
    const decodePoll = Schema.decodeUnknownEffect(PollRow)

    /** Reads the shared report and tries to claim the next call, in one statement. */
    const poll = Effect.fn("HealthReports.poll")(function* (processor: ProcessorName) {
      const [row] = yield* sql`SELECT * FROM poll_processor_health(${processor}, ${intervalMs})`
      const { age_ms, claimed, failing } = yield* decodePoll(row)
      return { report: { failing, ageMs: age_ms }, claimed } satisfies Poll
    }, edge)

    /** What the claimed call answered, for every instance to read. */
    const publish = Effect.fn("HealthReports.publish")(function* (processor: ProcessorName, health: ServiceHealth) {
      yield* sql`SELECT report_processor_health(${processor}, ${health.failing}, ${health.minResponseTime})`
    }, edge)

    return { poll, publish } as const
  })
}) {
  static readonly layer = Layer.effect(this, this.make)
}
