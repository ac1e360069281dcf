import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as SqlClient from "effect/sql/SqlClient"
import { repositoryRoot } from "../../local/Processes.ts"
import { applySqlFolder, clientFor } from "../../src/Platform/Sql.ts"
import { freshDatabase } from "../support/Database.ts"

const folder = join(repositoryRoot, "sql", "crebitos")

describe("sql/crebitos applied again under traffic (an API instance starting, or restarted)", () => {
  it.live("neither waits for a transaction in progress nor deadlocks with it: both commit", () =>
    Effect.gen(function* () {
      const database = yield* freshDatabase
      const serving = yield* clientFor(database.url)
      const starting = yield* clientFor(database.url)
      yield* applySqlFolder(folder).pipe(Effect.provideService(SqlClient.SqlClient, starting))
      // What registrar_transacao does, slowed down: the client's row first, then its transaction row.
      const transaction = serving.withTransaction(
        Effect.gen(function* () {
          yield* serving`UPDATE clientes SET saldo = saldo + 1 WHERE id = 1`
          yield* Effect.sleep("300 millis")
          yield* serving`INSERT INTO transacoes (cliente_id, valor, tipo, descricao, realizada_em)
                         VALUES (1, 1, 'c', 'durante', clock_timestamp())`
        })
      )
      const apply = applySqlFolder(folder).pipe(
        Effect.provideService(SqlClient.SqlClient, starting),
        Effect.delay("100 millis")
      )
      const [transacted, applied] = yield* Effect.all([Effect.exit(transaction), Effect.exit(apply)], {
        concurrency: "unbounded"
      })
      assert.isTrue(Exit.isSuccess(transacted), String(transacted))
      assert.isTrue(Exit.isSuccess(applied), String(applied))
      const [row] = yield* serving<{ saldo: number }>`SELECT saldo FROM clientes WHERE id = 1`
      assert.strictEqual(row?.saldo, 1)
    }).pipe(Effect.scoped)
  )
})

describe("sql/crebitos on a database created before transacoes lost its keys", () => {
  it.live("drops its primary and foreign keys, keeps its rows, and applies again without locking it", () =>
    Effect.gen(function* () {
      const database = yield* freshDatabase
      const sql = yield* clientFor(database.url)
      yield* sql`CREATE TABLE clientes (id integer PRIMARY KEY, limite integer NOT NULL, saldo integer NOT NULL DEFAULT 0)`
      yield* sql`CREATE TABLE transacoes (
                   id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                   cliente_id integer NOT NULL REFERENCES clientes (id),
                   valor integer NOT NULL, tipo "char" NOT NULL, descricao text NOT NULL,
                   realizada_em timestamptz NOT NULL)`
      yield* sql`INSERT INTO clientes (id, limite) VALUES (1, 100000)`
      yield* sql`INSERT INTO transacoes (cliente_id, valor, tipo, descricao, realizada_em)
                 VALUES (1, 5, 'c', 'antes', now())`
      const keys = sql<{ contype: string }>`
        SELECT contype FROM pg_constraint WHERE conrelid = 'transacoes'::regclass AND contype IN ('p', 'f')`
      assert.strictEqual((yield* keys).length, 2)
      yield* applySqlFolder(folder).pipe(Effect.provideService(SqlClient.SqlClient, sql))
      assert.deepStrictEqual(yield* keys, [])
      const [row] = yield* sql<{ count: number }>`SELECT count(*)::int AS count FROM transacoes`
      assert.strictEqual(row?.count, 1)
      // Applied again (every API start does) while a transaction has read transacoes:
      // without the keys nothing is altered, so it does not wait for that transaction.
      const other = yield* clientFor(database.url)
      yield* other.withTransaction(
        Effect.gen(function* () {
          yield* other`SELECT count(*) FROM transacoes`
          yield* applySqlFolder(folder).pipe(
            Effect.provideService(SqlClient.SqlClient, sql),
            Effect.timeoutOrElse({ duration: "2 seconds", orElse: () => Effect.die("applying waited for the lock") })
          )
        })
      )
    }).pipe(Effect.scoped)
  )
})
