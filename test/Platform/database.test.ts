import { assert, describe, it, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Latch from "effect/Latch"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as SqlClient from "effect/sql/SqlClient"
import { type LogBudget, spend } from "../../src/Platform/ServerErrors.ts"
import { crebitosTest, ledgerState } from "../support/Crebitos.ts"
import { rawRequest, serverPort } from "../support/Http.ts"
import { eventually } from "../support/Processes.ts"

interface LogLine {
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
  readonly cause: string
}

/** Every line the server under test logs. */
class Logs extends Context.Service<Logs, { readonly lines: Array<LogLine> }>()("test/Logs") {}

const LogsLive = Layer.effectContext(
  Effect.sync(() => {
    const lines: Array<LogLine> = []
    const capture = Logger.make(({ cause, fiber, message }) => {
      lines.push({
        message: (Array.isArray(message) ? message : [message]).map(String).join(" "),
        annotations: fiber.getRef(References.CurrentLogAnnotations),
        cause: Cause.pretty(cause)
      })
    })
    return Context.make(Logs, { lines }).pipe(Context.merge(Context.make(Logger.CurrentLoggers, new Set([capture]))))
  })
)

const timeoutMs = 500

/** A server whose database calls may take 500 ms, with two connections (shared with the test), its schema checked every 100 ms. */
const DatabaseTest = crebitosTest({
  DB_TIMEOUT: `${timeoutMs} millis`,
  DB_POOL_SIZE: "2",
  SCHEMA_CHECK_INTERVAL: "100 millis"
}).pipe(Layer.provideMerge(LogsLive))

const debit = (id: number) =>
  Effect.flatMap(serverPort, (port) =>
    rawRequest(port, {
      method: "POST",
      path: `/clientes/${id}/transacoes`,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ valor: 1, tipo: "d", descricao: "preso" })
    })
  )

const get = (path: string) => Effect.flatMap(serverPort, (port) => rawRequest(port, { method: "GET", path }))

/** Runs `during` while another session holds client `id`'s row, so statements on it wait. */
const whileRowLocked = <A, E, R>(id: number, during: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const locked = yield* Latch.make()
    const release = yield* Latch.make()
    const holder = yield* sql
      .withTransaction(
        sql`SELECT 1 FROM clientes WHERE id = ${id} FOR UPDATE`.pipe(
          Effect.andThen(locked.open),
          Effect.andThen(release.await)
        )
      )
      .pipe(Effect.forkChild)
    yield* locked.await
    return yield* during.pipe(Effect.ensuring(release.open.pipe(Effect.andThen(Fiber.join(holder)), Effect.orDie)))
  })

layer(DatabaseTest, { excludeTestServices: true })("a database that cannot answer", (it) => {
  it.effect(
    "a statement that waits past DB_TIMEOUT: a bare 503 within it, logged once with its cause, nothing stored",
    () =>
      Effect.gen(function* () {
        const { lines } = yield* Logs
        const before = yield* ledgerState
        lines.length = 0
        const [elapsed, answer] = yield* whileRowLocked(1, Effect.timed(debit(1)))
        assert.strictEqual(answer.status, 503)
        assert.strictEqual(answer.body, "")
        const ms = Duration.toMillis(elapsed)
        assert.isAtLeast(ms, timeoutMs - 50)
        assert.isBelow(ms, timeoutMs + 1000)
        assert.deepStrictEqual(yield* ledgerState, before)
        const reported = lines.filter((line) => line.message.includes("answered 5"))
        assert.strictEqual(reported.length, 1, JSON.stringify(lines))
        assert.include(reported[0]?.message, "POST /clientes/1/transacoes answered 503")
        assert.include(reported[0]?.cause, "DatabaseUnavailable")
        assert.strictEqual(reported[0]?.annotations["http.status"], 503)
      })
  )

  it.effect("every pooled connection taken: waiting for one is bounded by DB_TIMEOUT too", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      // The test shares the server's pool (one PgLive): take both its connections.
      yield* sql.reserve
      yield* sql.reserve
      const [elapsed, answer] = yield* Effect.timed(get("/clientes/2/extrato"))
      assert.strictEqual(answer.status, 503)
      assert.isAtLeast(Duration.toMillis(elapsed), timeoutMs - 50)
      assert.isBelow(Duration.toMillis(elapsed), timeoutMs + 1000)
    }).pipe(Effect.scoped)
  )

  it.effect("the schema and seed lost under a running server: /healthz 503, then applied again by itself", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      assert.strictEqual((yield* get("/healthz")).status, 200)
      // Hold the lock the schema is applied under, so the 503 is observed before the repair.
      const admin = yield* sql.reserve
      yield* admin.executeRaw("SELECT pg_advisory_lock(7202401)", [])
      // What a crash does to unlogged tables, and a procedure gone besides.
      yield* sql`TRUNCATE transacoes, clientes`
      yield* sql`DROP FUNCTION registrar_transacao`
      assert.strictEqual((yield* get("/healthz")).status, 503)
      // Client 1 exists, its row is just not back yet: "not found" would be false.
      assert.strictEqual((yield* get("/clientes/1/extrato")).status, 503)
      yield* admin.executeRaw("SELECT pg_advisory_unlock(7202401)", [])
      yield* eventually(
        Effect.map(get("/healthz"), (answer) => answer.status === 200),
        "5 seconds"
      )
      assert.deepStrictEqual(
        (yield* ledgerState).map(({ saldo, transacoes }) => ({ saldo, transacoes })),
        Array.from({ length: 5 }, () => ({ saldo: 0, transacoes: 0 }))
      )
      assert.strictEqual((yield* debit(3)).status, 200)
    }).pipe(Effect.scoped)
  )
})

describe("the 5XX log's budget", () => {
  const rate = { burst: 3, refillMillis: 1000 }
  const full: LogBudget = { tokens: 3, updatedAt: 0, suppressed: 0 }

  it("writes a burst, then one line a second, and says in each line how many it left out", () => {
    let budget = full
    const written: Array<number | undefined> = []
    for (const now of [0, 0, 0, 0, 0, 1000, 1000, 3000]) {
      const decision = spend(budget, now, rate)
      written.push(decision.written)
      budget = decision.budget
    }
    assert.deepStrictEqual(written, [0, 0, 0, undefined, undefined, 2, undefined, 1])
  })
})
