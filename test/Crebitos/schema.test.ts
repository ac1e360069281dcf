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
