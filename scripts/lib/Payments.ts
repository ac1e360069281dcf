/**
 * What the harness knows about Payments: its stack (the compose topology
 * plus the two processor simulators) and its contest (readiness rule,
 * k6/payments.ts and the result it writes, the score, the verdict).
 */

import { readFile } from "node:fs/promises"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { PaymentsResult } from "../../k6/lib/payments.ts"
import type * as Contest from "./Contest.ts"
import * as Samples from "./Samples.ts"
import * as Simulators from "./Simulators.ts"
import * as Stack from "./Stack.ts"

export interface PaymentsStack extends Stack.Stack {
  readonly simulators: Simulators.Simulators
}

/** The simulators first (the APIs check their health from the start), then the stack pointed at them. */
export const up = (ports: Simulators.Ports) => (options: Stack.StackOptions) =>
  Effect.gen(function* () {
    const simulators = yield* Simulators.start(ports, options.verbose)
    const stack = yield* Stack.up({
      ...options,
      apiEnvironment: { ...Simulators.apiEnvironment(simulators), ...options.apiEnvironment }
    })
    return { ...stack, simulators } satisfies PaymentsStack
  })

const money = (amount: number) => amount.toFixed(2)

const resultFile = (dir: string) => join(dir, "k6-result.json")

type SimulatorStats = Readonly<Record<Simulators.ProcessorName, Simulators.ProcessorStats>>

export const contest: Contest.Definition<PaymentsStack, SimulatorStats> = {
  service: "payments",
  title: (options) => `Payments — profile ${options.profile}`,
  profiles: ["contest", "smoke"],
  exploratory: [],
  pgProfiles: ["contest"],
  up: up(Simulators.freePorts),
  readinessPath: "/payments-summary",
  script: "payments.ts",
  k6Environment: (stack, dir) => ({
    PROCESSOR_DEFAULT_URL: stack.simulators.urls.default,
    PROCESSOR_FALLBACK_URL: stack.simulators.urls.fallback,
    PROCESSOR_TOKEN: stack.simulators.token,
    RESULT_FILE: resultFile(dir)
  }),
  // k6's teardown gave the processors their initial token back.
  afterLoad: (stack) =>
    Effect.all({
      default: Simulators.stats(stack.simulators, "default"),
      fallback: Simulators.stats(stack.simulators, "fallback")
    }),
  judge: ({ afterLoad: stats, dir, k6ExitCode, samples }) =>
    Effect.gen(function* () {
      const result = yield* Effect.promise(() => readFile(resultFile(dir), "utf8")).pipe(
        Effect.flatMap(Schema.decodeUnknownEffect(Schema.fromJsonString(PaymentsResult))),
        Effect.orDie
      )
      const payments = Samples.byScenario(samples).payments ?? Samples.stats(samples)
      const healthRejected = stats.default.healthRejected + stats.fallback.healthRejected
      const processorRow = (name: Simulators.ProcessorName) => {
        const totals = result.processors[name]
        return [
          name,
          String(totals.totalRequests),
          String(totals.processorRequests),
          money(totals.totalAmount),
          String(totals.feePerTransaction),
          String(stats[name].healthCalls),
          String(stats[name].healthRejected),
          String(stats[name].paymentsRejected)
        ]
      }
      return {
        reasons: [
          ...(payments.ko > 0 ? [`${payments.ko} POST /payments without a 2XX`] : []),
          ...(result.inconsistencies > 0 ? [`${result.inconsistencies} inconsistencies`] : []),
          ...(result.lag !== 0
            ? [`lag ${result.lag}: requested ${result.requested}, recorded ${result.recorded}`]
            : []),
          ...(result.disqualified ? ["disqualified: more payments recorded than requested"] : []),
          ...(healthRejected > 0 ? [`${healthRejected} health calls refused with 429`] : []),
          ...(k6ExitCode !== 0 ? [`k6 exited with ${k6ExitCode}`] : [])
        ],
        ko: payments.ko,
        inconsistencies: {
          duringLoad: result.inconsistencies,
          audit: 0,
          details: [`${result.audits} audits during the load, then the final comparison (both counted above)`]
        },
        sections: [
          {
            title: "Score (the contest's formula)",
            header: [
              "score",
              "net",
              "gross",
              "fees",
              "p99",
              "bonus",
              "fine",
              "requested",
              "recorded",
              "lag",
              "via default"
            ],
            rows: [
              [
                money(result.score),
                money(result.net),
                money(result.gross),
                money(result.fees),
                `${result.p99Ms.toFixed(2)} ms`,
                `${(result.bonus * 100).toFixed(1)}%`,
                `${(result.fine * 100).toFixed(0)}%`,
                String(result.requested),
                String(result.recorded),
                String(result.lag),
                `${(result.defaultShare * 100).toFixed(2)}%`
              ]
            ]
          },
          {
            title: "Payments per processor",
            header: [
              "processor",
              "recorded by the service",
              "stored by the processor",
              "amount",
              "fee",
              "health calls",
              "health 429",
              "payments 429"
            ],
            rows: [processorRow("default"), processorRow("fallback")]
          }
        ]
      }
    })
}
