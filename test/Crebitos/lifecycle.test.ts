import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Latch from "effect/Latch"
import { exited, freePort, isAlive, spawnNode } from "../../local/Processes.ts"
import { clientFor } from "../../src/Platform/Sql.ts"
import { freshDatabase } from "../support/Database.ts"
import { debit, eventually, refusesConnections } from "../support/Processes.ts"

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

describe("lifecycle", () => {
  it.live(
    "graceful shutdown: a request in flight when SIGTERM arrives still gets its answer, then the process ends",
    () =>
      Effect.gen(function* () {
        // A grace period longer than the test: the process must end once the
        // answer is out, not wait for its client's kept-alive connection to go.
        const { database, port, server } = yield* apiProcess({ SHUTDOWN_TIMEOUT: "60 seconds" })
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
        // 5000 warm-up requests: some seconds more on a loaded machine.
        yield* eventually(
          Effect.map(health, (status) => status === 200),
          "25 seconds"
        )
      }).pipe(Effect.scoped),
    30_000
  )
})
