/**
 * What the harness knows about Crébitos: its contest (readiness rule, k6
 * script, verdict), the audit of its database, and its part in the fault
 * suite (the steady load, the faults, the audit of acknowledged writes).
 */

import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { limites } from "../../k6/lib/crebitos.ts"
import { Extrato, SaldoAtual } from "../../src/Crebitos/Domain.ts"
import { clientFor } from "../../src/Platform/Sql.ts"
import type * as Contest from "./Contest.ts"
import * as Faults from "./Faults.ts"
import * as Fuzz from "./Fuzz.ts"
import * as K6 from "./K6.ts"
import * as Options from "./Options.ts"
import * as Samples from "./Samples.ts"
import * as Schemathesis from "./Schemathesis.ts"
import * as Stack from "./Stack.ts"
import type * as Traffic from "./Traffic.ts"

/** Every balance must equal the sum of its transactions and respect its limit: what breaks that, client by client. */
const auditBalances = (databaseUrl: string) =>
  Effect.gen(function* () {
    const sql = yield* clientFor(databaseUrl)
    const rows = yield* sql<{ id: number; saldo: number; limite: number; soma: number }>`
      SELECT c.id, c.saldo, c.limite,
             COALESCE(sum(CASE t.tipo WHEN 'c' THEN t.valor ELSE -t.valor END), 0)::int AS soma
        FROM clientes c LEFT JOIN transacoes t ON t.cliente_id = c.id
       GROUP BY c.id ORDER BY c.id`
    return rows.flatMap((row) => [
      ...(row.saldo !== row.soma
        ? [`client ${row.id}: saldo ${row.saldo} but its transactions sum to ${row.soma}`]
        : []),
      ...(row.saldo < -row.limite ? [`client ${row.id}: saldo ${row.saldo} below -limite ${-row.limite}`] : [])
    ])
  }).pipe(Effect.scoped, Effect.orDie)

export const contest: Contest.Definition<Stack.Stack, ReadonlyArray<string>> = {
  service: "crebitos",
  title: (options) => `Crébitos — profile ${options.profile}, PostgreSQL ${options.pgProfile}`,
  profiles: ["contest", "smoke", "steady", "stress"],
  exploratory: ["stress"],
  pgProfiles: ["contest", "durable"],
  up: Stack.up,
  readinessPath: "/clientes/1/extrato",
  script: "crebitos.ts",
  k6Environment: () => ({}),
  afterLoad: (stack) => auditBalances(stack.databaseUrl),
  judge: ({ afterLoad: findings, dir, samples }) =>
    Effect.gen(function* () {
      const duringLoad = yield* K6.summaryCount(dir, "inconsistencias")
      const { ko } = Samples.stats(samples)
      return {
        reasons: [
          ...(ko > 0 ? [`${ko} KO`] : []),
          ...(duringLoad > 0 ? [`${duringLoad} inconsistencies seen during the load`] : []),
          ...(findings.length > 0 ? [`${findings.length} inconsistencies in the audit`] : [])
        ],
        ko,
        inconsistencies: { duringLoad, audit: findings.length, details: findings }
      }
    })
}

// --- the fault suite ---------------------------------------------------------------

/** What one request of the steady load was. */
export type Operation =
  | { readonly kind: "c" | "d"; readonly id: number; readonly valor: number; readonly descricao: string }
  | { readonly kind: "extrato"; readonly id: number }

const randomInt = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1))

/** Every descricao of a segment starts so; at most 10 characters in all, even after millions of requests. */
const descricaoPrefix = (segment: number) => `f${segment}-`

/**
 * The contest's mix (22 debits : 11 credits : 1 statement, random clients
 * and amounts). Every transaction has a descricao of its own, `f<segment>-<n>`,
 * so the audit finds each one in `transacoes`.
 */
const request =
  (segment: number) =>
  (index: number): Traffic.Request<Operation> => {
    const id = randomInt(1, 5)
    const draw = Math.random() * 34
    if (draw >= 33) return { method: "GET", path: `/clientes/${id}/extrato`, tag: { kind: "extrato", id } }
    const operation = {
      kind: draw < 22 ? "d" : "c",
      id,
      valor: randomInt(1, 10_000),
      descricao: `${descricaoPrefix(segment)}${index.toString(36)}`
    } as const
    return {
      method: "POST",
      path: `/clientes/${id}/transacoes`,
      body: JSON.stringify({ valor: operation.valor, tipo: operation.kind, descricao: operation.descricao }),
      tag: operation
    }
  }

/** The contract's answers: 200 (422 for a debit past the limit). */
const failed = (answer: Traffic.Answer<Operation>) =>
  !(answer.status === 200 || (answer.status === 422 && answer.request.tag.kind === "d"))

const decodeSaldo = Schema.decodeUnknownOption(Schema.fromJsonString(SaldoAtual))
const decodeExtrato = Schema.decodeUnknownOption(Schema.fromJsonString(Extrato))

/** A 200 whose limit is not the client's or whose balance is below it. */
const inconsistent = (answer: Traffic.Answer<Operation>) => {
  if (answer.status !== 200) return false
  const { id } = answer.request.tag
  const saldo =
    answer.request.tag.kind === "extrato"
      ? Option.map(decodeExtrato(answer.body), (extrato) => ({
          limite: extrato.saldo.limite,
          saldo: extrato.saldo.total
        }))
      : decodeSaldo(answer.body)
  return Option.match(saldo, {
    onNone: () => true,
    onSome: ({ limite, saldo }) => limite !== limites[id] || saldo < -limite
  })
}

/** A fault of the database process: in the `contest` profile, its unlogged tables come back empty. */
interface CrebitosFault extends Faults.Fault<Stack.Stack> {
  readonly crashesDatabase: boolean
}

const faults: ReadonlyArray<CrebitosFault> = [
  {
    name: "kill -9 api01",
    crashesDatabase: false,
    inject: (stack) =>
      Effect.map(Faults.kill(stack.apis[0]?.pid ?? Effect.die(new Error("no API"))), (pid) => [
        `api01 (pid ${pid}) killed`
      ])
  },
  {
    name: "kill -9 PostgreSQL",
    crashesDatabase: true,
    inject: (stack) =>
      Effect.map(Faults.kill(stack.databasePid), (pid) => [`PostgreSQL (pid ${pid} and its backends) killed`])
  },
  {
    name: "SIGSTOP PostgreSQL 5 s",
    crashesDatabase: false,
    inject: (stack) =>
      Effect.map(Faults.freeze(stack.databasePid, "5 seconds"), (count) => [
        `${count} PostgreSQL processes stopped for 5 s, then continued`
      ])
  }
]

/** A transaction as `transacoes` holds it, with the balance right after it. */
interface Written {
  readonly descricao: string
  readonly cliente_id: number
  readonly valor: number
  readonly tipo: string
  readonly saldo: number
}

/** This segment's transactions, each with the running balance of its client up to it (ids follow the row lock). */
const writtenIn = (databaseUrl: string, prefix: string) =>
  Effect.gen(function* () {
    const sql = yield* clientFor(databaseUrl)
    return yield* sql<Written>`
      SELECT descricao, cliente_id, valor, tipo::text AS tipo, saldo
        FROM (SELECT t.*, sum(CASE t.tipo WHEN 'c' THEN t.valor ELSE -t.valor END)
                          OVER (PARTITION BY t.cliente_id ORDER BY t.id)::int AS saldo
                FROM transacoes t) AS running
       WHERE descricao LIKE ${`${prefix}%`}`
  }).pipe(Effect.scoped, Effect.orDie)

/**
 * After a fault: every balance equals the sum of its transactions and
 * respects the limit; every acknowledged transaction is in `transacoes` with
 * the balance its answer gave (in the `contest` profile a crash of the
 * database may lose those sent before it: the service comes back at the
 * seed state); no refused debit was written.
 */
const audit =
  (pgProfile: Stack.PgProfile) =>
  (
    stack: Stack.Stack,
    fault: CrebitosFault,
    answers: ReadonlyArray<Traffic.Answer<Operation>>,
    timeline: Faults.Timeline
  ) =>
    Effect.gen(function* () {
      const balances = yield* auditBalances(stack.databaseUrl)
      const written = new Map(
        (yield* writtenIn(stack.databaseUrl, descricaoPrefix(timeline.segment))).map((row) => [row.descricao, row])
      )
      const mayBeLost = fault.crashesDatabase && pgProfile === "contest"
      const missing: Array<string> = []
      const wrongBalance: Array<string> = []
      const refusedButWritten: Array<string> = []
      let lostAsAllowed = 0
      let unansweredWritten = 0
      let unanswered = 0
      for (const answer of answers) {
        const tag = answer.request.tag
        if (tag.kind === "extrato") continue
        const row = written.get(tag.descricao)
        if (answer.status === 200) {
          if (row === undefined) {
            if (mayBeLost && answer.sentAt < timeline.injectionEndedAt) lostAsAllowed++
            else missing.push(`${tag.descricao} (client ${tag.id})`)
            continue
          }
          const saldo = Option.map(decodeSaldo(answer.body), (body) => body.saldo)
          if (
            row.cliente_id !== tag.id ||
            row.valor !== tag.valor ||
            row.tipo !== tag.kind ||
            !Option.contains(saldo, row.saldo)
          ) {
            wrongBalance.push(
              `${tag.descricao}: answered ${Option.getOrElse(saldo, () => Number.NaN)}, written as ${row.saldo}`
            )
          }
        } else if (answer.status === 422 || answer.status === 404) {
          if (row !== undefined) refusedButWritten.push(`${tag.descricao} (${answer.status})`)
        } else {
          unanswered++
          if (row !== undefined) unansweredWritten++
        }
      }
      const acknowledged = answers.filter(
        (answer) => answer.status === 200 && answer.request.tag.kind !== "extrato"
      ).length
      return {
        findings: [
          ...balances,
          ...Faults.findingsOf("acknowledged transactions missing", missing),
          ...Faults.findingsOf("acknowledged transactions written otherwise than answered", wrongBalance),
          ...Faults.findingsOf("refused transactions written", refusedButWritten)
        ],
        notes: [
          `${acknowledged - lostAsAllowed - missing.length} of ${acknowledged} acknowledged transactions present, with the balance answered`,
          ...(mayBeLost
            ? [
                `${lostAsAllowed} acknowledged before the crash lost, as the contest profile allows (unlogged tables: back at the seed state)`
              ]
            : []),
          ...(unanswered > 0
            ? [`${unansweredWritten} of ${unanswered} transactions without an answer were written`]
            : [])
        ]
      } satisfies Faults.AuditResult
    })

/** Crébitos in a PostgreSQL profile, for the fault suite. */
export const faultTarget = (
  pgProfile: Stack.PgProfile,
  options: Faults.TargetOptions
): Faults.Target<Stack.Stack, Operation, CrebitosFault> => ({
  label: `crebitos (${[pgProfile, ...Options.settingsText(options.settings)].join(" ")})`,
  up: Stack.up({
    service: "crebitos",
    pgProfile,
    port: options.port,
    verbose: options.verbose,
    apiEnvironment: options.settings,
    upstreamLog: true
  }),
  rate: options.rate,
  request,
  failed,
  inconsistent,
  serving: (stack) => Faults.everyApiHealthy(stack),
  prepare: () => Effect.void,
  faults: faults.filter((fault) => options.faults.length === 0 || options.faults.includes(fault.name)),
  audit: audit(pgProfile)
})

// --- the fuzz check ----------------------------------------------------------------

/** A transaction as schemathesis sent it, or as `transacoes` holds it: client, amount, kind, description. */
const transactionKey = (id: string | number, valor: unknown, tipo: unknown, descricao: unknown) =>
  JSON.stringify([String(id), valor, tipo, descricao])

const SentTransaction = Schema.fromJsonString(
  Schema.Struct({ valor: Schema.Unknown, tipo: Schema.Unknown, descricao: Schema.Unknown })
)
const decodeSent = Schema.decodeUnknownOption(SentTransaction)
const transactionPath = /^\/clientes\/([^/]+)\/transacoes$/

/**
 * What was stored against what was answered: each transaction in
 * `transacoes` must be one schemathesis was answered 200 for, as sent, and
 * each 200 must have stored one. A request refused (4XX) that wrote
 * anything shows up as a transaction nobody was answered 200 for.
 */
export const compareTransactions = (
  stored: ReadonlyArray<{
    readonly cliente_id: number
    readonly valor: number
    readonly tipo: string
    readonly descricao: string
  }>,
  exchanges: ReadonlyArray<Schemathesis.Exchange>
): Faults.AuditResult => {
  const acknowledged = new Map<string, number>()
  const unreadable: Array<string> = []
  let answered200 = 0
  for (const exchange of exchanges) {
    const path = transactionPath.exec(Schemathesis.pathOf(exchange))
    if (exchange.request.method !== "POST" || path === null || exchange.response.status !== 200) continue
    answered200++
    const sent = decodeSent(exchange.request.postData?.text ?? "")
    if (Option.isNone(sent)) {
      unreadable.push(exchange.request.url)
      continue
    }
    const key = transactionKey(
      decodeURIComponent(path[1] ?? ""),
      sent.value.valor,
      sent.value.tipo,
      sent.value.descricao
    )
    acknowledged.set(key, (acknowledged.get(key) ?? 0) + 1)
  }
  const unacknowledged: Array<string> = []
  for (const row of stored) {
    const key = transactionKey(row.cliente_id, row.valor, row.tipo, row.descricao)
    const left = acknowledged.get(key) ?? 0
    if (left === 0) unacknowledged.push(key)
    else acknowledged.set(key, left - 1)
  }
  const missing = [...acknowledged].flatMap(([key, left]) => Array.from({ length: left }, () => key))
  return {
    findings: [
      ...Faults.findingsOf("transactions stored that no request was answered 200 for", unacknowledged),
      ...Faults.findingsOf("transactions answered 200 but not stored", missing),
      ...Faults.findingsOf("answers 200 to a body that is not a transaction", unreadable)
    ],
    notes: [`${stored.length} transactions stored, ${answered200} answered 200 to POST /clientes/{id}/transacoes`]
  }
}

const storedTransactions = (databaseUrl: string) =>
  Effect.gen(function* () {
    const sql = yield* clientFor(databaseUrl)
    return yield* sql<{ cliente_id: number; valor: number; tipo: string; descricao: string }>`
      SELECT cliente_id, valor, tipo::text AS tipo, descricao FROM transacoes`
  }).pipe(Effect.scoped, Effect.orDie)

/** After the fuzzer: the balances' audit, and the transactions stored against the answers it got. */
export const fuzzAudit = (databaseUrl: string, exchanges: ReadonlyArray<Schemathesis.Exchange>) =>
  Effect.gen(function* () {
    const balances = yield* auditBalances(databaseUrl)
    const compared = compareTransactions(yield* storedTransactions(databaseUrl), exchanges)
    return {
      findings: [...balances, ...compared.findings],
      notes: [...compared.notes, `${balances.length} balances off their transactions or below -limite`]
    } satisfies Faults.AuditResult
  })

/** Crébitos for the fuzz check: its stack (nginx in front of both APIs), fuzzed as its clients reach it. */
export const fuzzTarget = (options: { readonly verbose: boolean }): Fuzz.Target<Stack.Stack> => ({
  name: "crebitos",
  up: Effect.tap(Stack.up({ service: "crebitos", pgProfile: "contest", port: 0, verbose: options.verbose }), (stack) =>
    Fuzz.awaitReady(`${stack.url}/healthz`)
  ),
  url: (stack) => stack.url,
  passes: [{ name: "all", config: "crebitos.toml", mode: "all", examplesFactor: 1 }],
  audit: (stack, exchanges) => fuzzAudit(stack.databaseUrl, exchanges)
})
