import { spawnSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import { lstat, rm, stat, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { crebitosTest, ledgerState } from "../support/Crebitos.ts"
import { rawRequest, serverPort } from "../support/Http.ts"

const socketPath = () => join(tmpdir(), `rinha-${randomUUID().slice(0, 8)}.sock`)

const exists = (path: string) =>
  Effect.promise(() =>
    lstat(path).then(
      () => true,
      () => false
    )
  )

const transacao = (socketPath: string) =>
  rawRequest(
    { socketPath },
    {
      method: "POST",
      path: "/clientes/1/transacoes",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ valor: 5, tipo: "c", descricao: "socket" })
    }
  )

/** Builds the server with `SOCKET_PATH` for `use`, and closes it after. */
const withSocketServer = <A, E, R>(path: string, use: Effect.Effect<A, E, R>) =>
  Effect.provide(use, crebitosTest({ SOCKET_PATH: path }))

describe("SOCKET_PATH: the API answers on a Unix socket besides its port", () => {
  it.live(
    "the same server on both: a transaction through the socket is read back through the port; the file goes with the server",
    () =>
      Effect.gen(function* () {
        const path = socketPath()
        yield* withSocketServer(
          path,
          Effect.gen(function* () {
            assert.strictEqual(((yield* Effect.promise(() => stat(path))).mode & 0o777).toString(8), "666")
            const answer = yield* transacao(path)
            assert.strictEqual(answer.status, 200, answer.body)
            assert.deepStrictEqual(JSON.parse(answer.body), { limite: 100000, saldo: 5 })
            const extrato = yield* rawRequest(yield* serverPort, { method: "GET", path: "/clientes/1/extrato" })
            assert.strictEqual(JSON.parse(extrato.body).saldo.total, 5)
            // The platform's guards hold on the socket too: a bad id is refused and stores nothing.
            const before = yield* ledgerState
            const odd = yield* rawRequest({ socketPath: path }, { method: "GET", path: "/clientes/0x1/extrato" })
            assert.strictEqual(odd.status, 404)
            assert.deepStrictEqual(yield* ledgerState, before)
          })
        )
        assert.isFalse(yield* exists(path), "closing the server removes its socket")
      }),
    30_000
  )

  it.live(
    "a socket left by a killed process is replaced; a file that is not a socket is left alone and start-up fails",
    () =>
      Effect.gen(function* () {
        const stale = socketPath()
        // A process that dies without closing leaves its socket file behind, refusing connections.
        spawnSync(process.execPath, [
          "-e",
          `require("node:net").createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, "SIGKILL"))`
        ])
        assert.isTrue((yield* Effect.promise(() => lstat(stale))).isSocket())
        yield* withSocketServer(
          stale,
          Effect.gen(function* () {
            assert.strictEqual((yield* transacao(stale)).status, 200)
          })
        )

        const notSocket = socketPath()
        yield* Effect.promise(() => writeFile(notSocket, "keep me"))
        const exit = yield* Effect.exit(withSocketServer(notSocket, Effect.void))
        yield* Effect.promise(() => rm(notSocket))
        assert.isTrue(Exit.isFailure(exit))
        assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), "SocketPathTaken")
      }),
    30_000
  )

  it.live("a path the kernel cannot bind is refused with the reason, before anything starts", () =>
    Effect.gen(function* () {
      for (const [path, reason] of [
        ["relative.sock", "must be an absolute path"],
        [`/tmp/${"x".repeat(104)}.sock`, "at most 107 bytes"]
      ] as const) {
        const exit = yield* Effect.exit(Layer.build(crebitosTest({ SOCKET_PATH: path })).pipe(Effect.scoped))
        assert.isTrue(Exit.isFailure(exit), path)
        assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), reason)
      }
    })
  )
})
