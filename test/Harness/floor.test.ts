import { randomUUID } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import { freePort, spawnNode } from "../../local/Processes.ts"
import { apiEntry } from "../../scripts/lib/Stack.ts"
import type { Extrato } from "../../src/Crebitos/Domain.ts"
import { applySqlFolder, clientFor } from "../../src/Platform/Sql.ts"
import { freshDatabase } from "../support/Database.ts"

/**
 * The floors `--floor` puts in place of each API: they must answer what the
 * contest's k6 script checks, or a floor run would measure failures instead
 * of the harness.
 */

const exchange = (url: string, init?: RequestInit) =>
  Effect.promise(() =>
    fetch(url, init).then(async (response) => ({ status: response.status, body: await response.text() }))
  )

const post = (url: string, body: unknown) =>
  exchange(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body)
  })

/** The floor of `service` as the stack starts it, on a free port. */
const startFloor = (service: "crebitos" | "payments", env: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function* () {
    const port = yield* freePort
    yield* spawnNode(apiEntry({ service, floor: true }), { ...env, PORT: String(port) }, /Listening on/)
    return `http://127.0.0.1:${port}`
  })

describe("--floor: each API replaced by the least code answering the contest", () => {
  it("the stack runs the floor only when asked", () => {
    assert.match(apiEntry({ service: "crebitos" }), /dist\/crebitos\.mjs$/)
    assert.match(apiEntry({ service: "payments", floor: true }), /scripts\/floor\/payments\.ts$/)
  })

  it.live("Payments: 202 at once, nothing kept, a summary of zeros that agrees with processors that got nothing", () =>
    Effect.gen(function* () {
      const url = yield* startFloor("payments")
      const paid = yield* post(`${url}/payments`, { correlationId: randomUUID(), amount: 19.9 })
      assert.deepStrictEqual(paid, { status: 202, body: "" })
      assert.strictEqual((yield* post(`${url}/payments`, "{")).status, 422)
      const summary = yield* exchange(`${url}/payments-summary?from=2020-01-01T00:00:00Z`)
      assert.deepStrictEqual(JSON.parse(summary.body), {
        default: { totalRequests: 0, totalAmount: 0 },
        fallback: { totalRequests: 0, totalAmount: 0 }
      })
      assert.strictEqual((yield* post(`${url}/purge-payments`, "")).status, 200)
      assert.strictEqual((yield* exchange(`${url}/healthz`)).status, 200)
      assert.strictEqual((yield* exchange(`${url}/nothing`)).status, 404)
    }).pipe(Effect.scoped)
  )

  it.live("Crébitos: the same procedures give the contract's answers", () =>
    Effect.gen(function* () {
      const database = yield* freshDatabase
      const sql = yield* clientFor(database.url)
      yield* applySqlFolder("sql/crebitos").pipe(Effect.provideService(SqlClient.SqlClient, sql))
      const url = yield* startFloor("crebitos", { DATABASE_URL: database.url, DB_POOL_SIZE: "2" })
      const transacoes = (id: number) => `${url}/clientes/${id}/transacoes`

      const credit = yield* post(transacoes(1), { valor: 1000, tipo: "c", descricao: "floor" })
      assert.deepStrictEqual(
        { ...credit, body: JSON.parse(credit.body) },
        {
          status: 200,
          body: { limite: 100_000, saldo: 1000 }
        }
      )
      // Past the limit, unknown client, and payloads the contract refuses.
      assert.strictEqual((yield* post(transacoes(1), { valor: 200_000, tipo: "d", descricao: "x" })).status, 422)
      assert.strictEqual((yield* post(transacoes(6), { valor: 1, tipo: "d", descricao: "x" })).status, 404)
      for (const refused of [
        { valor: 1.5, tipo: "c", descricao: "x" },
        { valor: 1, tipo: "x", descricao: "x" },
        { valor: 1, tipo: "c", descricao: "" },
        { valor: 1, tipo: "c", descricao: "onze letras" },
        "{"
      ]) {
        assert.strictEqual((yield* post(transacoes(1), refused)).status, 422, JSON.stringify(refused))
      }

      const extrato = yield* exchange(`${url}/clientes/1/extrato`)
      assert.strictEqual(extrato.status, 200)
      const body: Extrato = JSON.parse(extrato.body)
      assert.deepStrictEqual({ total: body.saldo.total, limite: body.saldo.limite }, { total: 1000, limite: 100_000 })
      assert.deepStrictEqual(
        body.ultimas_transacoes.map((t) => [t.valor, t.tipo, t.descricao]),
        [[1000, "c", "floor"]]
      )
      assert.strictEqual((yield* exchange(`${url}/clientes/6/extrato`)).status, 404)
    }).pipe(Effect.scoped)
  )
})
