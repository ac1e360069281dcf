import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import { repositoryRoot } from "../../local/Processes.ts"
import * as Crebitos from "../../scripts/lib/Crebitos.ts"
import * as Fuzz from "../../scripts/lib/Fuzz.ts"
import * as Payments from "../../scripts/lib/Payments.ts"
import * as Schemathesis from "../../scripts/lib/Schemathesis.ts"
import * as Simulators from "../../scripts/lib/Simulators.ts"
import { applySqlFolder, clientFor } from "../../src/Platform/Sql.ts"
import { freshDatabase } from "../support/Database.ts"

/** A real run's reports (schemathesis 4.32.5 against Crébitos, one check failed), the HAR cut to four exchanges. */
const fixtures = join(import.meta.dirname, "fixtures", "schemathesis")

const exchange = (method: string, path: string, status: number, body?: unknown): Schemathesis.Exchange => ({
  request: {
    method,
    url: `http://127.0.0.1:9999${path}`,
    ...(body === undefined ? {} : { postData: { text: JSON.stringify(body) } })
  },
  response: { status }
})

const clean = { findings: [], notes: [] }

describe("the fuzz check's verdict", () => {
  it.effect("reads schemathesis's JSON report and HAR: requests by class, the failed checks, the reasons to fail", () =>
    Effect.gen(function* () {
      const results = yield* Schemathesis.readResults(fixtures)
      assert.strictEqual(results.exchanges.length, 4)
      assert.strictEqual(results.report.test_cases.generated, 183)
      const outcome = Fuzz.outcomeOf("crebitos", [{ pass: "all", results }], clean)
      assert.deepStrictEqual(outcome.byClass, { "2XX": 2, "3XX": 0, "4XX": 2, "5XX": 0 })
      assert.deepStrictEqual(outcome.checkFailures, [
        "[all] ST202 Schema-valid request rejected ×1 (POST /clientes/{id}/transacoes)"
      ])
      assert.deepStrictEqual(Fuzz.reasons(outcome), [
        "crebitos: check failed: [all] ST202 Schema-valid request rejected ×1 (POST /clientes/{id}/transacoes)"
      ])
    })
  )

  it.effect("a 5XX, an unfinished run or an audit finding each fail it; a clean run passes", () =>
    Effect.gen(function* () {
      const { report } = yield* Schemathesis.readResults(fixtures)
      const passing = { ...report, failures: [] }
      const exchanges = [exchange("GET", "/healthz", 200), exchange("GET", "/clientes/1/extrato", 404)]
      const outcome = (
        results: Schemathesis.Results,
        audit: { readonly findings: ReadonlyArray<string>; readonly notes: ReadonlyArray<string> } = clean
      ) => Fuzz.reasons(Fuzz.outcomeOf("s", [{ pass: "p", results }], audit))
      assert.deepStrictEqual(outcome({ report: passing, exchanges }), [])
      assert.deepStrictEqual(
        outcome({ report: passing, exchanges: [...exchanges, exchange("POST", "/clientes/1/transacoes", 503)] }),
        ["s: 1 answers 5XX"]
      )
      assert.deepStrictEqual(
        outcome({ report: { ...passing, complete: false, stop_reason: "interrupted" }, exchanges }),
        ["s: [p] did not complete (interrupted)"]
      )
      assert.deepStrictEqual(outcome({ report: passing, exchanges }, { findings: ["a change"], notes: [] }), [
        "s: audit: a change"
      ])
    })
  )

  it("runs every check and phase, one worker, with the reports the verdict reads", () => {
    const args = Schemathesis.runArguments({
      binary: "st",
      schemaUrl: "http://127.0.0.1:1/openapi.json",
      config: "crebitos.toml",
      dir: "/tmp/r",
      maxExamples: 7,
      mode: "negative",
      seed: 3,
      exclude: ["PUT /a"],
      headers: { "X-Rinha-Token": "123" }
    })
    const flagValue = (flag: string) => args[args.indexOf(flag) + 1]
    assert.strictEqual(flagValue("--config-file"), join(repositoryRoot, "fuzz", "crebitos.toml"))
    assert.strictEqual(flagValue("--checks"), "all")
    assert.strictEqual(flagValue("--phases"), "examples,coverage,fuzzing,stateful")
    assert.strictEqual(flagValue("--workers"), "1")
    assert.strictEqual(flagValue("--mode"), "negative")
    assert.strictEqual(flagValue("--max-examples"), "7")
    assert.include(flagValue("--report") ?? "", "json")
    assert.include(flagValue("--report") ?? "", "har")
    assert.strictEqual(flagValue("--exclude-name"), "PUT /a")
    assert.strictEqual(flagValue("--header"), "X-Rinha-Token: 123")
    assert.notInclude(args, "--exclude-checks")
  })
})

describe("the Crébitos audit, on a real database", () => {
  const accepted = [
    exchange("POST", "/clientes/1/transacoes", 200, { valor: 10, tipo: "c", descricao: "ok" }),
    exchange("POST", "/clientes/2/transacoes", 422, { valor: 10, tipo: "x", descricao: "no" }),
    exchange("GET", "/clientes/1/extrato", 200)
  ]

  const ledger = (statements: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      const database = yield* freshDatabase
      const sql = yield* clientFor(database.url)
      yield* applySqlFolder(join(repositoryRoot, "sql", "crebitos")).pipe(
        Effect.provideService(SqlClient.SqlClient, sql)
      )
      for (const statement of statements) yield* sql.unsafe(statement)
      return database.url
    })

  it.live("passes when what is stored is exactly what was answered 200", () =>
    Effect.gen(function* () {
      const url = yield* ledger(["SELECT * FROM registrar_transacao(1, 10, 'c', 'ok')"])
      const audit = yield* Crebitos.fuzzAudit(url, accepted)
      assert.deepStrictEqual(audit.findings, [])
    }).pipe(Effect.scoped)
  )

  it.live("finds a transaction stored for a request that was refused, and one answered 200 but not stored", () =>
    Effect.gen(function* () {
      const url = yield* ledger([
        "SELECT * FROM registrar_transacao(1, 10, 'c', 'ok')",
        "SELECT * FROM registrar_transacao(2, 10, 'c', 'no')"
      ])
      const refusedButStored = yield* Crebitos.fuzzAudit(url, accepted)
      assert.strictEqual(refusedButStored.findings.length, 1, refusedButStored.findings.join("; "))
      assert.include(refusedButStored.findings[0] ?? "", "no request was answered 200 for")
      const lost = yield* Crebitos.fuzzAudit(url, [
        ...accepted,
        exchange("POST", "/clientes/2/transacoes", 200, { valor: 10, tipo: "c", descricao: "no" }),
        exchange("POST", "/clientes/3/transacoes", 200, { valor: 1, tipo: "d", descricao: "gone" })
      ])
      assert.deepStrictEqual(lost.findings.length, 1, lost.findings.join("; "))
      assert.include(lost.findings[0] ?? "", "answered 200 but not stored")
    }).pipe(Effect.scoped)
  )

  it.live("finds a balance changed without its transaction", () =>
    Effect.gen(function* () {
      const url = yield* ledger([
        "SELECT * FROM registrar_transacao(1, 10, 'c', 'ok')",
        "UPDATE clientes SET saldo = saldo - 5 WHERE id = 3"
      ])
      const audit = yield* Crebitos.fuzzAudit(url, accepted)
      assert.deepStrictEqual(audit.findings, ["client 3: saldo -5 but its transactions sum to 0"])
    }).pipe(Effect.scoped)
  )
})

describe("the Payments audit", () => {
  const a = "11111111-1111-4111-8111-111111111111"
  const b = "22222222-2222-4222-8222-222222222222"
  const c = "33333333-3333-4333-8333-333333333333"
  const sent = [
    exchange("POST", "/payments", 202, { correlationId: a, amount: 19.9 }),
    exchange("POST", "/purge-payments", 200),
    exchange("POST", "/payments", 202, { correlationId: b, amount: 1 }),
    exchange("POST", "/payments", 422, { correlationId: c, amount: 0.001 })
  ]
  const held = new Map([
    [a, 1],
    [b, 1]
  ])

  it("passes when the service recorded the 202s since the last purge, each held once", () => {
    assert.deepStrictEqual(
      Payments.comparePayments([{ correlation_id: b, amount_cents: 100 }], held, sent).findings,
      []
    )
    // Accepted before the purge and dispatched after it: recorded, and still a 202.
    assert.deepStrictEqual(
      Payments.comparePayments(
        [
          { correlation_id: a, amount_cents: 1990 },
          { correlation_id: b, amount_cents: 100 }
        ],
        held,
        sent
      ).findings,
      []
    )
  })

  it("finds a refused payment recorded or processed, a 202 lost, one held twice", () => {
    const findings = Payments.comparePayments(
      [{ correlation_id: c, amount_cents: 0 }],
      new Map([
        [a, 2],
        [c, 1]
      ]),
      sent
    ).findings
    assert.strictEqual(findings.length, 5, findings.join("; "))
    for (const [index, kind] of [
      "recorded that no request was answered 202 for",
      "answered 202 since the last purge but not recorded",
      "answered 202 held by no processor",
      "held by both processors",
      "refused but held by a processor"
    ].entries()) {
      assert.include(findings[index] ?? "", kind)
    }
  })
})

describe("the simulator audit", () => {
  it("counts the payments since the last purge: those answered 200, and those only refused that a processor could hold", () => {
    const { accepted, refused } = Simulators.sentSincePurge([
      exchange("POST", "/payments", 200, { correlationId: "x", amount: 1 }),
      exchange("POST", "/admin/purge-payments", 200),
      exchange("POST", "/payments", 200, { correlationId: "y", amount: 2 }),
      exchange("POST", "/payments", 422, { correlationId: "y", amount: 2 }),
      exchange("POST", "/payments", 400, { correlationId: "z", amount: -1 }),
      exchange("POST", "/payments", 400, { correlationId: "44444444-4444-4444-8444-444444444444", amount: -1 }),
      exchange("POST", "/admin/purge-payments", 401)
    ])
    assert.deepStrictEqual([...accepted], [["y", 2]])
    assert.deepStrictEqual([...refused], ["44444444-4444-4444-8444-444444444444"])
  })
})
