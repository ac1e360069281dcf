import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import * as EmbeddedPostgres from "../../local/EmbeddedPostgres.ts"
import { freePort, repositoryRoot, spawnNode } from "../../local/Processes.ts"
import { descendants } from "../../scripts/lib/Cgroups.ts"
import * as Compose from "../../scripts/lib/Compose.ts"
import { applySqlFolder, applySqlScript, clientFor } from "../../src/Platform/Sql.ts"
import { rawRequest } from "../support/Http.ts"

type Profile = "contest" | "durable"

/** A PostgreSQL with a profile's settings, as the compose file configures it, on a given directory and port. */
const postgres = (profile: Profile, dataDir: string, port: number) => {
  const { listen_addresses: _, ...settings } = Compose.parsePostgresConf(
    readFileSync(join(repositoryRoot, "docker", "crebitos", `postgresql-${profile}.conf`), "utf8")
  )
  return EmbeddedPostgres.start({ dataDir: Option.some(dataDir), port: Option.some(port), settings })
}

const json = { "content-type": "application/json" }

const transact = (port: number, descricao: string) =>
  rawRequest(port, {
    method: "POST",
    path: "/clientes/1/transacoes",
    headers: json,
    body: JSON.stringify({ valor: 7, tipo: "c", descricao })
  })

const statement = (port: number) =>
  Effect.map(rawRequest(port, { method: "GET", path: "/clientes/1/extrato" }), (answer) => ({
    status: answer.status,
    body:
      answer.status === 200
        ? (JSON.parse(answer.body) as { saldo: { total: number }; ultimas_transacoes: Array<{ descricao: string }> })
        : undefined
  }))

const healthy = (port: number) =>
  Effect.map(rawRequest(port, { method: "GET", path: "/healthz" }), (answer) => answer.status === 200).pipe(
    Effect.catch(() => Effect.succeed(false))
  )

/** Polls until the API reports healthy again. */
const recovery = (port: number) =>
  healthy(port).pipe(
    Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (ok) => ok }),
    Effect.timeoutOrElse({ duration: "20 seconds", orElse: () => Effect.die(new Error("the API never came back")) })
  )

describe.each<Profile>(["contest", "durable"])(
  "PostgreSQL killed with kill -9 and restarted (profile %s)",
  (profile) => {
    it.live(
      "the API is back by itself, consistent, with no restart of its own",
      () =>
        Effect.gen(function* () {
          const parent = mkdtempSync(join(tmpdir(), "rinha-recovery-"))
          chmodSync(parent, 0o777)
          yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(parent, { recursive: true, force: true })))
          const dataDir = join(parent, "pg")
          const pgPort = yield* freePort
          const apiPort = yield* freePort

          const first = yield* Scope.make()
          const pg = yield* postgres(profile, dataDir, pgPort).pipe(Scope.provide(first))
          const url = Redacted.value(pg.url)
          yield* Effect.scoped(
            Effect.gen(function* () {
              const sql = yield* clientFor(url)
              yield* applySqlFolder(join(repositoryRoot, "sql", "crebitos")).pipe(
                Effect.andThen(
                  applySqlScript(
                    readFileSync(join(repositoryRoot, "sql", "crebitos", "profiles", `${profile}.sql`), "utf8")
                  )
                ),
                Effect.provideService(SqlClient.SqlClient, sql)
              )
            })
          )
          yield* spawnNode(
            "src/Crebitos/main.ts",
            {
              DATABASE_URL: url,
              PORT: String(apiPort),
              WARMUP_REQUESTS: "0",
              SCHEMA_CHECK_INTERVAL: "200 millis",
              DB_TIMEOUT: "1 second"
            },
            /Listening on/
          )
          for (const descricao of ["antes-1", "antes-2"])
            assert.strictEqual((yield* transact(apiPort, descricao)).status, 200)

          process.kill(pg.pid, "SIGKILL")
          yield* Scope.close(first, Exit.void)
          const down = yield* statement(apiPort)
          assert.strictEqual(down.status, 503, "while PostgreSQL is down, a bare 503")

          yield* postgres(profile, dataDir, pgPort)
          yield* recovery(apiPort)
          const after = yield* statement(apiPort)
          assert.strictEqual(after.status, 200)
          const descricoes = after.body?.ultimas_transacoes.map((t) => t.descricao) ?? []
          if (profile === "durable") {
            // Every acknowledged write survives.
            assert.deepStrictEqual(descricoes, ["antes-2", "antes-1"])
            assert.strictEqual(after.body?.saldo.total, 14)
          } else {
            // Unlogged tables come back empty; the seed is applied again: consistent, nothing half-kept.
            assert.deepStrictEqual(descricoes, [])
            assert.strictEqual(after.body?.saldo.total, 0)
          }
          assert.strictEqual((yield* transact(apiPort, "depois")).status, 200)
        }).pipe(Effect.scoped),
      60_000
    )
  }
)

describe("PostgreSQL frozen (SIGSTOP of every process, as `docker pause`)", () => {
  it.live(
    "requests are answered 503 within DB_TIMEOUT, statements already sent included, and 200 again once it thaws",
    () =>
      Effect.gen(function* () {
        const pg = yield* EmbeddedPostgres.start({ dataDir: Option.none(), port: Option.none() })
        const apiPort = yield* freePort
        const timeoutMs = 500
        yield* spawnNode(
          "src/Crebitos/main.ts",
          {
            DATABASE_URL: Redacted.value(pg.url),
            PORT: String(apiPort),
            WARMUP_REQUESTS: "0",
            DB_POOL_SIZE: "2",
            DB_TIMEOUT: `${timeoutMs} millis`
          },
          /Listening on/
        )
        assert.strictEqual((yield* transact(apiPort, "antes")).status, 200)
        const frozen = [pg.pid, ...(yield* Effect.promise(() => descendants(pg.pid)))]
        const signal = (name: NodeJS.Signals) =>
          Effect.sync(() => frozen.forEach((pid) => void process.kill(pid, name)))
        yield* signal("SIGSTOP")
        // More requests than pooled connections: some statements go out to the
        // frozen server (interrupting those cannot wait for its cancel), the others wait for a connection.
        const answers = yield* Effect.all(
          Array.from({ length: 6 }, (_, i) => Effect.timed(transact(apiPort, `congelada${i}`))),
          { concurrency: "unbounded" }
        ).pipe(Effect.ensuring(signal("SIGCONT")))
        for (const [elapsed, answer] of answers) {
          assert.strictEqual(answer.status, 503)
          assert.isBelow(Duration.toMillis(elapsed), timeoutMs + 1000)
        }
        assert.strictEqual((yield* transact(apiPort, "depois")).status, 200)
      }).pipe(Effect.scoped),
    60_000
  )
})
