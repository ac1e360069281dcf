import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

/** `PORT`, where a server listens; 0 picks a free one. (`Config.Port` refuses 0.) */
export const portConfig = (defaultPort: number) =>
  Config.schema(
    Schema.NumberFromString.check(Schema.isInt(), Schema.isBetween({ minimum: 0, maximum: 65_535 })),
    "PORT"
  ).pipe(Config.withDefault(defaultPort))

/** Where the API listens: the contest's 9999 by default. */
export const HttpPort = portConfig(9999)

/**
 * How to reach PostgreSQL. The default URL is what the compose file's
 * `db` service answers on; `npm start` always sets it.
 */
export const DatabaseUrl = Config.Redacted("DATABASE_URL").pipe(
  Config.withDefault(Redacted.make("postgres://postgres:postgres@127.0.0.1:5432/postgres"))
)

/**
 * Connections per API process. A handful: each request is one short round
 * trip, and more connections than cores only adds contention inside PostgreSQL.
 */
export const DatabasePoolSize = Config.Int("DB_POOL_SIZE").pipe(Config.withDefault(4))

/**
 * The longest any database call may take, waiting for a pooled connection
 * included: past it the request is answered 503 and PostgreSQL cancels the
 * statement (its `statement_timeout`). Above the slowest healthy statement
 * seen under the contest's load with every commit flushed (~1 s of disk
 * stall), far below a client's patience.
 */
export const DatabaseTimeout = Config.Duration("DB_TIMEOUT").pipe(Config.withDefault(Duration.seconds(2)))

/**
 * The largest request body read, in bytes. Every body of these contracts is
 * under 200 bytes; a larger one is refused with 413 before it is read.
 */
export const MaxBodyBytes = Config.Int("MAX_BODY_BYTES").pipe(Config.withDefault(4096))
