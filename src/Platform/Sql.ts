import { readdir, readFile } from "node:fs/promises"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpServerRespondable from "effect/http/HttpServerRespondable"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import { isSqlError, type SqlError } from "effect/sql/SqlError"
import { DatabasePoolSize, DatabaseTimeout, DatabaseUrl } from "./Config.ts"
import { type CallObserver, Instruments } from "./Observability.ts"

/**
 * The pooled PostgreSQL client, configured from the environment. PostgreSQL
 * itself cancels any statement running longer than `DB_TIMEOUT`, and a
 * connection that cannot be opened within it counts as unreachable.
 */
export const PgLive = PgClient.layerConfig({
  url: DatabaseUrl,
  maxConnections: DatabasePoolSize,
  minConnections: DatabasePoolSize,
  applicationName: Config.succeed("rinha"),
  connectTimeout: DatabaseTimeout,
  startupParameters: Config.map(DatabaseTimeout, (timeout) => ({
    statement_timeout: String(Duration.toMillis(timeout))
  }))
})

/**
 * The database could not answer: unreachable, restarting, or slower than
 * `DB_TIMEOUT`. A defect that answers a bare 503 (the client may retry); the
 * cause is logged by the server, never sent.
 */
export class DatabaseUnavailable extends Data.TaggedError("DatabaseUnavailable")<{ readonly cause: unknown }> {
  [HttpServerRespondable.symbol]() {
    return Effect.succeed(HttpServerResponse.empty({ status: 503 }))
  }
}

const isInfrastructure = <E>(error: E | SqlError | Schema.SchemaError): error is SqlError | Schema.SchemaError =>
  isSqlError(error) || Schema.isSchemaError(error)

const sqlState = (cause: unknown): string | undefined =>
  typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string"
    ? cause.code
    : undefined

/**
 * Whether an SQL failure means the database cannot serve right now (as
 * opposed to a bug in a statement): no connection could be opened, one was
 * lost, a timeout fired, or the server is shutting down, crashing or
 * recovering (SQLSTATE class 57).
 */
const isUnavailable = (error: SqlError): boolean => {
  const reason = error.reason
  if (reason.operation === "connect") return true
  switch (reason._tag) {
    case "ConnectionError":
    case "StatementTimeoutError":
    case "LockTimeoutError":
      return true
    case "UnknownError":
      return sqlState(reason.cause)?.startsWith("57") ?? false
    default:
      return false
  }
}

/** A call being waited for, until it ends or falls due. */
interface Waiting {
  /** The clock's monotonic nanoseconds at which the call is late. */
  readonly due: bigint
  /** Once its caller has an answer, or went away: nothing left to watch. */
  answered: boolean
  /** Answers the caller with `orElse` and leaves the call behind. */
  readonly expire: () => void
}

/**
 * Bounds calls by `timeout`: `answerWithin(orElse)(call)` is `call`, or
 * `orElse` once `timeout` has passed — at once, not after the call was
 * interrupted: interrupting a statement means asking the server to cancel it
 * and waiting for it to say so, which a frozen server never does (the driver
 * gives up after 5 s: a statement on the wire was answered DB_TIMEOUT + 5 s
 * late, see test/Platform/recovery.test.ts). So the call runs in a fiber of
 * its own, interrupted in the background when it is late or its caller goes
 * away; one left behind ends by itself within the server's statement_timeout.
 *
 * Every call waits the same `timeout`, so the deadlines fall due in the order
 * the calls began: one watcher fiber, sleeping until the oldest call still
 * unanswered is due, keeps them all. A call costs its own fiber and nothing
 * more — no timer and no race of two more fibers, which under the contest's
 * load were most of a tenth of an API's CPU (docs/crebitos-efficiency.md).
 * Calls that end in milliseconds let the watcher sleep about a whole
 * `timeout`, and so does having nothing to wait for: a call that begins
 * meanwhile falls due after it wakes. A late call is answered within
 * 1.05 × `timeout`.
 */
export const makeDeadline = Effect.fnUntraced(function* (timeout: Duration.Input) {
  const clock = yield* Clock.Clock
  const nanos = Duration.toNanosUnsafe(timeout)
  // The watcher never sleeps less than this: calls falling due one after the
  // other (an outage) are answered in batches, each up to a twentieth of
  // `timeout` after its deadline, rather than with a wake-up each.
  const slack = nanos / 20n
  // Oldest first, from `next` on; the ones before it are done with.
  let waiting: Array<Waiting> = []
  let next = 0

  const expireDue = Effect.suspend(() => {
    const now = clock.monotonicTimeNanosUnsafe()
    let oldest = waiting[next]
    while (oldest !== undefined && (oldest.answered || oldest.due <= now)) {
      if (!oldest.answered) oldest.expire()
      oldest = waiting[++next]
    }
    // Dropped in bulk, not one shift per call.
    if (next > 1024 || oldest === undefined) {
      waiting = waiting.slice(next)
      next = 0
    }
    const untilOldest = oldest === undefined ? nanos : oldest.due - now
    return Effect.sleep(Duration.nanos(untilOldest > slack ? untilOldest : slack))
  })
  yield* Effect.forkScoped(Effect.forever(expireDue))

  return <B>(orElse: () => Effect.Effect<B>, observe?: CallObserver) =>
    <A, E, R>(call: Effect.Effect<A, E, R>): Effect.Effect<A | B, E, R> =>
      // Started at once, not on the scheduler's next round: up to its first
      // wait (a connection, the server's answer) it runs as if not forked.
      Effect.flatMap(Effect.forkDetach(call, { startImmediately: true }), (fiber) => {
        observe?.(fiber)
        return Effect.callback<A | B, E, R>((resume) => {
          const waiter: Waiting = {
            due: clock.monotonicTimeNanosUnsafe() + nanos,
            answered: false,
            expire: () => {
              abandon()
              resume(orElse())
            }
          }
          const stopWatching = fiber.addObserver((exit) => {
            waiter.answered = true
            resume(exit)
          })
          const abandon = () => {
            waiter.answered = true
            stopWatching()
            fiber.interruptUnsafe()
          }
          waiting.push(waiter)
          // The caller went away: the call goes too, in the background.
          return Effect.sync(() => {
            if (!waiter.answered) abandon()
          })
        })
      })
})

/**
 * What every service method does with infrastructure failures, at its edge:
 * the whole call is bounded by `DB_TIMEOUT` (a pooled connection awaited
 * included), a database that cannot answer is a `DatabaseUnavailable` defect
 * (503), and anything else unexpected (a statement or a row that does not
 * decode) a plain defect (500). Domain failures stay typed. With metrics on
 * (`METRICS_PORT`), the fiber that runs each call is timed too
 * (Observability.ts): watching it costs no wrapper around the call.
 */
export const makeDatabaseEdge = Effect.gen(function* () {
  const timeout = yield* DatabaseTimeout
  const answerWithin = yield* makeDeadline(timeout)
  const { databaseCall } = yield* Instruments
  const unanswered = new DatabaseUnavailable({ cause: `no answer within ${Duration.format(timeout)}` })
  return <A, E, R>(call: Effect.Effect<A, E | SqlError | Schema.SchemaError, R>) =>
    call.pipe(
      answerWithin(() => Effect.die(unanswered), databaseCall),
      Effect.catchIf(isInfrastructure<E>, (error) =>
        Effect.die(isSqlError(error) && isUnavailable(error) ? new DatabaseUnavailable({ cause: error }) : error)
      )
    )
})

/** A service's own SQL: sql/<service> beside the sources, or SQL_DIR (the container's bundle sits elsewhere). */
export const sqlFolderOf = (service: string) =>
  Config.String("SQL_DIR").pipe(Config.withDefault(fileURLToPath(new URL(`../../sql/${service}`, import.meta.url))))

/** The `.sql` files of a folder, in the order their names sort. */
export const readSqlFolder = Effect.fn("Sql.readSqlFolder")(function* (folder: string) {
  const names = yield* Effect.promise(() => readdir(folder))
  return yield* Effect.forEach(names.filter((name) => name.endsWith(".sql")).sort(), (name) =>
    Effect.promise(() => readFile(join(folder, name), "utf8"))
  )
})

// Any key works as long as every process applying the schema uses the same one.
const applyLockKey = 7_202_401

/**
 * Runs a script of several statements as one transaction. The
 * prepared-statement protocol takes one statement per call, so the script
 * travels as a dollar-quoted literal run by PL/pgSQL's EXECUTE, which
 * accepts several. Every instance applies the schema at start-up, one at a
 * time under an advisory lock, so two instances starting together cannot race.
 */
export const applySqlScript = Effect.fn("Sql.applySqlScript")(function* (script: string) {
  const sql = yield* SqlClient.SqlClient
  const quote = "$rinha_script$"
  if (script.includes(quote)) {
    return yield* Effect.die(new Error(`an SQL script must not contain ${quote}`))
  }
  yield* sql.unsafe(
    `DO $rinha_apply$ BEGIN
       PERFORM pg_advisory_xact_lock(${applyLockKey});
       EXECUTE ${quote}${script}${quote};
     END $rinha_apply$`
  )
})

/** Applies the files of a folder, which must be idempotent, as one transaction. */
export const applySqlFolder = Effect.fn("Sql.applySqlFolder")(function* (folder: string) {
  return yield* applySqlScript((yield* readSqlFolder(folder)).join("\n"))
})

/** A SqlClient on `url` for the life of the enclosing scope. */
export const clientFor = (url: string) =>
  Layer.build(PgClient.layer({ url: Redacted.make(url) })).pipe(Effect.map(Context.get(SqlClient.SqlClient)))

/** Whether the database holds what the service's contract needs. */
export type SchemaState = "ready" | "missing" | "unreachable"

/**
 * The service's schema and seed in the database, kept there. Every SQL folder
 * defines `service_ready()`: true while the tables, procedures and seed rows
 * the contract needs are all present. They can vanish under a running API —
 * a crash of PostgreSQL empties unlogged tables, a database re-created empty
 * has none — so the folder is applied again (it is idempotent) whenever the
 * check says they are missing, and `/healthz` answers 503 meanwhile.
 */
export class DatabaseSchema extends Context.Service<DatabaseSchema, { readonly state: Effect.Effect<SchemaState> }>()(
  "Platform/DatabaseSchema"
) {}

/**
 * "No such row" for a row the service's seed holds (a Crébitos client) is
 * the domain's answer only while the schema is ready. Between a crash that
 * emptied the unlogged tables and the seed's return (up to a schema check's
 * interval) it would be false — a 404 for a client that exists — so it is a
 * `DatabaseUnavailable` (503) instead. Asked only on that path: it costs one
 * more round trip to a request that found nothing, none to any other.
 */
export const makeSeedCheck = Effect.gen(function* () {
  const { state } = yield* DatabaseSchema
  return <E>(absent: E): Effect.Effect<never, E> =>
    Effect.flatMap(state, (now) =>
      now === "ready"
        ? Effect.fail(absent)
        : Effect.die(new DatabaseUnavailable({ cause: `a seed row not found while the schema is ${now}` }))
    )
})

/** How often the schema is checked in the background. */
const SchemaCheckInterval = Config.Duration("SCHEMA_CHECK_INTERVAL").pipe(Config.withDefault("1 second"))

/** Applies the service's SQL when built, then keeps it applied; see `DatabaseSchema`. */
export const layerSchema = (folder: Config.Config<string>) =>
  Layer.effect(
    DatabaseSchema,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const path = yield* folder
      const answerWithin = yield* makeDeadline(yield* DatabaseTimeout)
      const interval = yield* SchemaCheckInterval
      yield* applySqlFolder(path).pipe(Effect.orDie)

      const state: Effect.Effect<SchemaState> = sql<{ ready: boolean }>`SELECT service_ready() AS ready`.pipe(
        Effect.map(([row]): SchemaState => (row?.ready === true ? "ready" : "missing")),
        answerWithin(() => Effect.succeed<SchemaState>("unreachable")),
        Effect.catch((error) =>
          Effect.succeed<SchemaState>(error.reason._tag === "SqlSyntaxError" ? "missing" : "unreachable")
        )
      )

      const restore = state.pipe(
        Effect.flatMap((now) =>
          now !== "missing"
            ? Effect.void
            : Effect.logWarning("the database lost the service's schema or seed; applying it again").pipe(
                Effect.andThen(applySqlFolder(path)),
                Effect.andThen(Effect.log("schema and seed applied again")),
                Effect.catchCause((cause) => Effect.logError("applying the schema again failed", cause))
              )
        )
      )
      yield* Effect.forkScoped(restore.pipe(Effect.repeat(Schedule.spaced(interval))))
      return { state }
    })
  )
