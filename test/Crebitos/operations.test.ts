import { fileURLToPath } from "node:url"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as Schedule from "effect/Schedule"
import * as SqlClient from "effect/sql/SqlClient"
import { inject } from "vitest"
import { applySqlFolder, clientFor } from "../../src/Platform/Sql.ts"
import { CrebitosTest, crebitosTest, ledgerState, postRaw } from "../support/Crebitos.ts"

const sqlFolder = fileURLToPath(new URL("../../sql/crebitos", import.meta.url))

const get = (path: string) =>
  Effect.gen(function* () {
    const http = yield* HttpClient.HttpClient
    const response = yield* http.get(path)
    return { status: response.status, body: yield* response.text }
  }).pipe(Effect.orDie)

/** Cuts the server off its database, runs `during`, then lets it back in. */
const withDatabaseUnreachable = <A, E, R>(during: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ name: string }>`SELECT current_database() AS name`
    // A database cannot refuse connections to itself: ask from the server's own.
    const admin = yield* clientFor(inject("postgresUrl"))
    const name = admin(row?.name ?? "")
    yield* admin`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS false`
    yield* admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${row?.name ?? ""}`
    return yield* during.pipe(Effect.ensuring(Effect.orDie(admin`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS true`)))
  })

layer(CrebitosTest, { excludeTestServices: true })("operations", (it) => {
  it.effect("the start-up warm-up changed nothing, and left the process healthy", () =>
    Effect.gen(function* () {
      const state = yield* ledgerState
      assert.deepStrictEqual(
        state.map(({ saldo, transacoes }) => ({ saldo, transacoes })),
        Array.from({ length: 5 }, () => ({ saldo: 0, transacoes: 0 }))
      )
      assert.strictEqual((yield* get("/healthz")).status, 200)
    })
  )

  it.effect("the schema can be applied again, concurrently, without changing the data", () =>
    Effect.gen(function* () {
      yield* postRaw("/clientes/1/transacoes", JSON.stringify({ valor: 7, tipo: "c", descricao: "antes" }))
      const before = yield* ledgerState
      yield* Effect.all([applySqlFolder(sqlFolder), applySqlFolder(sqlFolder), applySqlFolder(sqlFolder)], {
        concurrency: "unbounded"
      })
      assert.deepStrictEqual(yield* ledgerState, before)
      assert.strictEqual(before.length, 5)
    })
  )

  it.effect("the OpenAPI document and the docs page come from the same HttpApi", () =>
    Effect.gen(function* () {
      const openapi = yield* get("/openapi.json")
      assert.strictEqual(openapi.status, 200)
      const paths = Object.keys((JSON.parse(openapi.body) as { paths: Record<string, unknown> }).paths)
      assert.includeMembers(paths, ["/clientes/{id}/transacoes", "/clientes/{id}/extrato", "/healthz"])
      const docs = yield* get("/docs")
      assert.strictEqual(docs.status, 200)
      assert.include(docs.body, "<html")
    })
  )

  it.effect("healthz answers 200 with the database, 503 without; a request then gets a bare 503, never a stack", () =>
    Effect.gen(function* () {
      assert.strictEqual((yield* get("/healthz")).status, 200)
      yield* withDatabaseUnreachable(
        Effect.gen(function* () {
          assert.strictEqual((yield* get("/healthz")).status, 503)
          const failed = yield* postRaw(
            "/clientes/1/transacoes",
            JSON.stringify({ valor: 1, tipo: "c", descricao: "x" })
          )
          assert.strictEqual(failed.status, 503)
          assert.strictEqual(failed.body, "")
        })
      )
      // The pool reconnects by itself once the database is back: within a
      // moment, as a connection it was opening meanwhile may still be refused.
      const back = yield* get("/healthz").pipe(
        Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (answer) => answer.status === 200, times: 40 })
      )
      assert.strictEqual(back.status, 200)
    })
  )
})

// No background restore during the test: what is answered while the seed is missing.
layer(crebitosTest({ SCHEMA_CHECK_INTERVAL: "1 hour" }), { excludeTestServices: true })("seed missing", (it) => {
  it.effect("a client missing because the seed is gone (a crash emptied the tables) is a 503, not a 404", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`DELETE FROM clientes`
      const debit = JSON.stringify({ valor: 1, tipo: "d", descricao: "x" })
      assert.strictEqual((yield* postRaw("/clientes/1/transacoes", debit)).status, 503)
      assert.strictEqual((yield* get("/clientes/1/extrato")).status, 503)
      assert.strictEqual((yield* get("/clientes/6/extrato")).status, 503)
      assert.strictEqual((yield* get("/healthz")).status, 503)
      yield* applySqlFolder(sqlFolder)
      assert.strictEqual((yield* postRaw("/clientes/1/transacoes", debit)).status, 200)
      assert.strictEqual((yield* get("/clientes/6/extrato")).status, 404)
      assert.strictEqual((yield* postRaw("/clientes/6/transacoes", debit)).status, 404)
    })
  )
})
