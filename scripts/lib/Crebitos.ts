/**
 * What the harness knows about Crébitos: its contest (readiness rule, k6
 * script, verdict) and the audit of its database.
 */

import * as Effect from "effect/Effect"
import { clientFor } from "../../src/Platform/Sql.ts"
import type * as Contest from "./Contest.ts"
import * as K6 from "./K6.ts"
import * as Samples from "./Samples.ts"
import * as Stack from "./Stack.ts"

/** Every balance must equal the sum of its transactions and respect its limit: what breaks that, client by client. */
export const auditBalances = (databaseUrl: string) =>
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
  profiles: ["contest", "smoke", "stress"],
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
