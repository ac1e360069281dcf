import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Latch from "effect/Latch"
import * as Schedule from "effect/Schedule"
import { exited, freePort, isAlive, listening, signalGroup, spawnNode } from "../../local/Processes.ts"
import { clientFor } from "../../src/Platform/Sql.ts"
import { freshDatabase } from "../support/Database.ts"

const debit = (port: number, cliente: number) =>
  Effect.promise(() =>
    fetch(`http://127.0.0.1:${port}/clientes/${cliente}/transacoes`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ valor: 1, tipo: "d", descricao: "em voo" })
    }).then(async (response) => ({ status: response.status, body: await response.text() }))
  )

const statementTotal = (port: number) =>
  Effect.promise(() =>
    fetch(`http://127.0.0.1:${port}/clientes/1/extrato`)
      .then((response) => response.json())
      .then((body) => (body as { saldo: { total: number } }).saldo.total)
  )

const refusesConnections = (port: number) =>
  listening(port).pipe(Effect.match({ onSuccess: () => false, onFailure: () => true }))

/** Polls until `condition` holds, for at most ~10 s. */
const eventually = <E, R>(condition: Effect.Effect<boolean, E, R>) =>
  condition.pipe(
    Effect.filterOrFail(
      (ok) => ok,
      () => new Error("condition not reached")
    ),
    Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 100 }),
    Effect.orDie
  )

/** The PIDs `npm start` printed for its workers. */
const workerPids = (output: string) => {
  const match = /workers ([\d, ]+)\)/.exec(output)
  return (match?.[1] ?? "").split(", ").map(Number)
}

/** One API process (what a container runs) on a fresh database and a free port. */
const apiProcess = (env: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function* () {
    const database = yield* freshDatabase
    const port = yield* freePort
    const server = yield* spawnNode(
      "src/Crebitos/main.ts",
      { DATABASE_URL: database.url, PORT: String(port), ...env },
      /Listening on/
    )
    return { database, port, server }
  })

const startedLine = /Crébitos listening on http:\/\/localhost:(\d+)/

describe("lifecycle", () => {
  it.live(
    "graceful shutdown: a request in flight when SIGTERM arrives still gets its answer",
    () =>
      Effect.gen(function* () {
        const { database, port, server } = yield* apiProcess()
        const sql = yield* clientFor(database.url)
        // Hold client 1's row so the debit waits inside PostgreSQL.
        const locked = yield* Latch.make()
        const release = yield* Latch.make()
        const holder = yield* sql
          .withTransaction(
            sql`SELECT 1 FROM clientes WHERE id = 1 FOR UPDATE`.pipe(
              Effect.andThen(locked.open),
              Effect.andThen(release.await)
            )
          )
          .pipe(Effect.forkChild)
        yield* locked.await
        const inFlight = yield* debit(port, 1).pipe(Effect.forkChild)
        yield* eventually(
          sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
                             WHERE wait_event_type = 'Lock' AND datname = current_database()`.pipe(
            Effect.map(([row]) => row?.n === 1)
          )
        )

        server.child.kill("SIGTERM")
        yield* eventually(refusesConnections(port))
        assert.isTrue(isAlive(server.child.pid ?? 0), "still finishing the request in flight")

        yield* release.open
        yield* Fiber.join(holder)
        const answer = yield* Fiber.join(inFlight)
        assert.strictEqual(answer.status, 200, answer.body)
        assert.deepStrictEqual(JSON.parse(answer.body), { limite: 100000, saldo: -1 })
        assert.include([0, 130, 143], yield* exited(server.child))
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "healthz answers 503 until the start-up warm-up is done",
    () =>
      Effect.gen(function* () {
        const { port } = yield* apiProcess({ WARMUP_REQUESTS: "5000" })
        const health = Effect.promise(() =>
          fetch(`http://127.0.0.1:${port}/healthz`).then((response) => response.status)
        )
        assert.strictEqual(yield* health, 503)
        yield* eventually(Effect.map(health, (status) => status === 200))
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "npm start: embedded PostgreSQL, two workers round robin, Ctrl-C leaves nothing behind",
    () =>
      Effect.gen(function* () {
        const port = yield* freePort
        const start = yield* spawnNode("local/start.ts", { PORT: String(port), DATABASE_URL: "" }, startedLine)
        const output = start.output()
        assert.include(output, "PostgreSQL (embedded)")
        const pids = workerPids(output)
        assert.strictEqual(pids.length, 2)
        const postgresDir = /data in (\S+)/.exec(output)?.[1] ?? ""
        assert.isTrue(existsSync(postgresDir))

        assert.strictEqual((yield* debit(port, 1)).status, 200)
        assert.strictEqual(yield* statementTotal(port), -1)

        // A worker that dies is replaced and the service keeps answering.
        process.kill(pids[0] ?? 0, "SIGKILL")
        yield* eventually(Effect.sync(() => /starting another/.test(start.output())))
        yield* Effect.forEach(Array.from({ length: 10 }), () => debit(port, 2), { discard: true })

        yield* signalGroup(start.child, "SIGINT")
        assert.strictEqual(yield* exited(start.child), 130)
        for (const pid of pids) assert.isFalse(isAlive(pid), `worker ${pid}`)
        assert.isFalse(existsSync(postgresDir), "temporary data directory removed")
        yield* eventually(refusesConnections(port))
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "npm start: every start begins from the seed state, unless DATA_DIR keeps it",
    () =>
      Effect.gen(function* () {
        const port = yield* freePort
        const parent = mkdtempSync(join(tmpdir(), "rinha-data-dir-test-"))
        // As root, PostgreSQL runs as the postgres user, which must reach the directory.
        chmodSync(parent, 0o777)
        const dataDir = join(parent, "pg")
        const run = (env: Record<string, string>) =>
          Effect.gen(function* () {
            const start = yield* spawnNode(
              "local/start.ts",
              { PORT: String(port), DATABASE_URL: "", ...env },
              startedLine
            )
            const before = yield* statementTotal(port)
            yield* debit(port, 1)
            start.child.kill("SIGTERM")
            yield* exited(start.child)
            return before
          }).pipe(Effect.scoped)
        assert.strictEqual(yield* run({}), 0)
        assert.strictEqual(yield* run({}), 0)
        assert.strictEqual(yield* run({ DATA_DIR: dataDir }), 0)
        assert.strictEqual(yield* run({ DATA_DIR: dataDir }), -1)
        assert.isTrue(existsSync(join(dataDir, "PG_VERSION")))
        rmSync(parent, { recursive: true, force: true })
      }),
    60_000
  )

  it.live(
    "npm start with DATABASE_URL uses that database and embeds nothing",
    () =>
      Effect.gen(function* () {
        const database = yield* freshDatabase
        const port = yield* freePort
        const start = yield* spawnNode(
          "local/start.ts",
          { PORT: String(port), DATABASE_URL: database.url },
          startedLine
        )
        assert.notInclude(start.output(), "embedded")
        assert.strictEqual((yield* debit(port, 3)).status, 200)
        const sql = yield* clientFor(database.url)
        const [row] = yield* sql<{ saldo: number }>`SELECT saldo FROM clientes WHERE id = 3`
        assert.strictEqual(row?.saldo, -1)
        start.child.kill("SIGTERM")
        yield* exited(start.child)
      }).pipe(Effect.scoped),
    60_000
  )
})
