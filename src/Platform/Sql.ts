import { readdir, readFile } from "node:fs/promises"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
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

/**
 * `call`, or `orElse` once `timeout` has passed — at once, not after the
 * call was interrupted: interrupting a statement means asking the server to
 * cancel it and waiting for it to say so, which a frozen server never does
 * (the driver gives up after 5 s: a statement on the wire was answered
 * DB_TIMEOUT + 5 s late, see test/Platform/recovery.test.ts). So the call runs in a fiber of its own,
 * interrupted in the background when it is late or its caller goes away; one
 * left behind ends by itself within the server's statement_timeout.
 */
export const answerWithin =
  <B>(timeout: Duration.Duration, orElse: () => Effect.Effect<B>, observe?: CallObserver) =>
  <A, E, R>(call: Effect.Effect<A, E, R>): Effect.Effect<A | B, E, R> =>
    Effect.flatMap(Effect.forkDetach(call), (fiber) => {
      // Before the call runs: a forked fiber starts on the next tick.
      observe?.(fiber)
      const abandon = Effect.forkDetach(Fiber.interrupt(fiber))
      return Fiber.join(fiber).pipe(
        Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.andThen(abandon, orElse()) }),
        Effect.onInterrupt(() => abandon)
      )
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
  const { databaseCall } = yield* Instruments
  const unanswered = new DatabaseUnavailable({ cause: `no answer within ${Duration.format(timeout)}` })
  return <A, E, R>(call: Effect.Effect<A, E | SqlError | Schema.SchemaError, R>) =>
    call.pipe(
      answerWithin(timeout, () => Effect.die(unanswered), databaseCall),
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
      const timeout = yield* DatabaseTimeout
      const interval = yield* SchemaCheckInterval
      yield* applySqlFolder(path).pipe(Effect.orDie)

      const state: Effect.Effect<SchemaState> = sql<{ ready: boolean }>`SELECT service_ready() AS ready`.pipe(
        Effect.map(([row]): SchemaState => (row?.ready === true ? "ready" : "missing")),
        answerWithin(timeout, () => Effect.succeed<SchemaState>("unreachable")),
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
