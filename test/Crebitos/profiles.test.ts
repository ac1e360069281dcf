import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import { repositoryRoot } from "../../local/Processes.ts"
import { applySqlFolder, applySqlScript, clientFor } from "../../src/Platform/Sql.ts"
import { freshDatabase } from "../support/Database.ts"

const profile = (name: string) =>
  Effect.promise(() => readFile(join(repositoryRoot, "sql", "crebitos", "profiles", `${name}.sql`), "utf8"))

describe("PostgreSQL profiles", () => {
  it.effect("contest makes both tables unlogged, durable makes them logged again, data intact", () =>
    Effect.gen(function* () {
      const database = yield* freshDatabase
      const sql = yield* clientFor(database.url)
      const persistence = sql<{ relname: string; relpersistence: string }>`
        SELECT relname, relpersistence FROM pg_class WHERE relname IN ('clientes', 'transacoes') ORDER BY relname`
      yield* Effect.gen(function* () {
        yield* applySqlFolder(join(repositoryRoot, "sql", "crebitos"))
        yield* sql`SELECT * FROM registrar_transacao(1, 10, 'c', 'antes')`
        yield* applySqlScript(yield* profile("contest"))
        assert.deepStrictEqual(
          (yield* persistence).map((row) => row.relpersistence),
          ["u", "u"]
        )
        yield* applySqlScript(yield* profile("durable"))
        assert.deepStrictEqual(
          (yield* persistence).map((row) => row.relpersistence),
          ["p", "p"]
        )
        const [row] = yield* sql<{ saldo: number }>`SELECT saldo FROM clientes WHERE id = 1`
        assert.strictEqual(row?.saldo, 10)
      }).pipe(Effect.provideService(SqlClient.SqlClient, sql))
    }).pipe(Effect.scoped)
  )
})
