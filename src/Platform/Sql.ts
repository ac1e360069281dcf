import { readdir, readFile } from "node:fs/promises"
import { join } from "node:path"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
import { DatabasePoolSize, DatabaseUrl } from "./Config.ts"

/** The pooled PostgreSQL client, configured from the environment. */
export const PgLive = PgClient.layerConfig({
  url: DatabaseUrl,
  maxConnections: DatabasePoolSize,
  minConnections: DatabasePoolSize,
  applicationName: Config.succeed("rinha")
})

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

/** A layer that applies a folder of SQL once, when it is built. */
export const layerApplySql = (folder: Config.Config<string>) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      yield* applySqlFolder(yield* folder).pipe(Effect.orDie)
    })
  )
