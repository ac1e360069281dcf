import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { exited, freePort, isAlive, signalGroup, spawnNode } from "../../local/Processes.ts"
import { clientFor } from "../../src/Platform/Sql.ts"
import { freshDatabase } from "../support/Database.ts"
import { debit, eventually, refusesConnections } from "../support/Processes.ts"

const statementTotal = (port: number) =>
  Effect.promise(() =>
    fetch(`http://127.0.0.1:${port}/clientes/1/extrato`)
      .then((response) => response.json())
      .then((body) => (body as { saldo: { total: number } }).saldo.total)
  )

/** The PIDs `npm start` printed for its workers. */
const workerPids = (output: string) => {
  const match = /workers ([\d, ]+)\)/.exec(output)
  return (match?.[1] ?? "").split(", ").map(Number)
}

/** The server's PID, from the first line of postmaster.pid in its data directory. */
const postmasterPid = (dataDir: string) => Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0])

const startedLine = /Crébitos listening on http:\/\/localhost:(\d+)/

describe("npm start", () => {
  it.live(
    "embedded PostgreSQL, two workers round robin, Ctrl-C leaves nothing behind",
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
    "every start begins from the seed state, unless DATA_DIR keeps it",
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

  it.live(
    "PostgreSQL killed with kill -9 is started again on the same data, saying so; the workers reconnect by themselves",
    () =>
      Effect.gen(function* () {
        const port = yield* freePort
        const parent = mkdtempSync(join(tmpdir(), "rinha-supervise-test-"))
        chmodSync(parent, 0o777)
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(parent, { recursive: true, force: true })))
        const start = yield* spawnNode(
          "local/start.ts",
          { PORT: String(port), DATABASE_URL: "", DATA_DIR: join(parent, "pg") },
          startedLine
        )
        const workers = workerPids(start.output())
        assert.strictEqual((yield* debit(port, 1)).status, 200)
        process.kill(postmasterPid(join(parent, "pg")), "SIGKILL")
        yield* eventually(Effect.sync(() => /PostgreSQL restarted/.test(start.output())))
        assert.match(start.output(), /PostgreSQL \(pid \d+\) exited unexpectedly \(SIGKILL\); restarting it/)
        yield* eventually(Effect.map(debit(port, 1), (answer) => answer.status === 200))
        // DATA_DIR keeps the data: both debits are there, and the same workers served them.
        assert.strictEqual(yield* statementTotal(port), -2)
        for (const pid of workers) assert.isTrue(isAlive(pid), `worker ${pid} kept running`)
        yield* signalGroup(start.child, "SIGINT")
        assert.strictEqual(yield* exited(start.child), 130)
      }).pipe(Effect.scoped),
    60_000
  )
})
