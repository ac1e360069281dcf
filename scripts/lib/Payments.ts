/**
 * What the harness knows about Payments: its stack (the compose topology
 * plus the two processor simulators), its contest (readiness rule,
 * k6/payments.ts and the result it writes, the score, the verdict), and its
 * part in the fault suite (payments at a steady rate, the faults, the audit
 * that no payment is lost or counted twice).
 */

import { randomUUID } from "node:crypto"
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { PaymentsResult } from "../../k6/lib/payments.ts"
import { PaymentsSummary } from "../../src/Payments/Domain.ts"
import { clientFor } from "../../src/Platform/Sql.ts"
import type * as Contest from "./Contest.ts"
import * as Faults from "./Faults.ts"
import * as Fuzz from "./Fuzz.ts"
import * as Options from "./Options.ts"
import * as Samples from "./Samples.ts"
import * as Schemathesis from "./Schemathesis.ts"
import * as Simulators from "./Simulators.ts"
import * as Stack from "./Stack.ts"
import type * as Traffic from "./Traffic.ts"

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

// --- the fault suite ---------------------------------------------------------------

/** What one request of the steady load was: a payment of 19.90, as in the contest. */
export interface Payment {
  readonly correlationId: string
}

const amount = 19.9

const request = () => (): Traffic.Request<Payment> => {
  const correlationId = randomUUID()
  return { method: "POST", path: "/payments", body: JSON.stringify({ correlationId, amount }), tag: { correlationId } }
}

const accepted = (answer: Traffic.Answer<Payment>) => answer.status >= 200 && answer.status < 300

const decodeSummary = Schema.decodeUnknownEffect(PaymentsSummary)

/** What the service counts, as GET /payments-summary (through nginx) answers. */
const serviceSummary = (stack: PaymentsStack) =>
  Effect.tryPromise(() => fetch(`${stack.url}/payments-summary`).then((response) => response.json())).pipe(
    Effect.flatMap(decodeSummary),
    Effect.orDie
  )

/** Accepted payments not yet recorded: with JOURNAL on, every one is in pending_payments until it is. */
const pending = (stack: PaymentsStack, owner?: string) =>
  Effect.gen(function* () {
    const sql = yield* clientFor(stack.databaseUrl)
    const [row] =
      owner === undefined
        ? yield* sql<{ count: number }>`SELECT count(*)::int AS count FROM pending_payments`
        : yield* sql<{ count: number }>`SELECT count(*)::int AS count FROM pending_payments WHERE owner = ${owner}`
    return row?.count ?? 0
  }).pipe(Effect.scoped, Effect.orDie)

const setBoth = (stack: PaymentsStack, conditions: Readonly<Record<Simulators.ProcessorName, Simulators.Conditions>>) =>
  Effect.forEach(Simulators.processorNames, (processor) =>
    Simulators.setConditions(stack.simulators, processor, conditions[processor])
  )

const healthyBoth = { default: Simulators.healthy, fallback: Simulators.healthy }

/**
 * Caught up: every payment accepted more than a second ago is counted (the
 * count only; the audit checks which). A backlog behind a failing processor
 * is not full service, even with every API answering.
 */
const caughtUp = (stack: PaymentsStack, answers: ReadonlyArray<Traffic.Answer<Payment>>) =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const due = answers.filter((answer) => accepted(answer) && answer.answeredAt < now - 1000).length
    const summary = yield* serviceSummary(stack)
    return summary.default.totalRequests + summary.fallback.totalRequests >= due
  })

const faults: ReadonlyArray<Faults.Fault<PaymentsStack>> = [
  {
    name: "kill -9 api01 with payments queued and in flight",
    // default refuses everything for 2 s (payments queue: fallback only takes those
    // older than FALLBACK_AFTER), then answers in 800 ms: the queue goes in flight.
    setUp: (stack) =>
      Effect.gen(function* () {
        yield* setBoth(stack, { default: { delay: 0, failure: true }, fallback: Simulators.healthy })
        yield* Effect.sleep("2 seconds")
        yield* setBoth(stack, { default: { delay: 800, failure: false }, fallback: Simulators.healthy })
        yield* Effect.sleep("1200 millis")
      }),
    inject: (stack) =>
      Effect.gen(function* () {
        const held = yield* pending(stack, "api01")
        const pid = yield* Faults.kill(stack.apis[0]?.pid ?? Effect.die(new Error("no API")))
        // The processors recover while api01 restarts; it must take its payments back.
        yield* setBoth(stack, healthyBoth)
        return [
          `api01 (pid ${pid}) killed; its journal held ${held} accepted payments not yet recorded (queued or in flight)`
        ]
      })
  },
  {
    name: "processors failing",
    inject: (stack) =>
      Effect.gen(function* () {
        yield* setBoth(stack, { default: { delay: 0, failure: true }, fallback: Simulators.healthy })
        yield* Effect.sleep("4 seconds")
        yield* setBoth(stack, { default: { delay: 0, failure: true }, fallback: { delay: 0, failure: true } })
        yield* Effect.sleep("3 seconds")
        yield* setBoth(stack, healthyBoth)
        return ["default failing for 7 s, fallback too for the last 3 s"]
      })
  },
  {
    name: "processors slow",
    inject: (stack) =>
      Effect.gen(function* () {
        // Longer than PROCESSOR_TIMEOUT (3 s): the API cannot tell whether a payment was taken.
        yield* setBoth(stack, { default: { delay: 4000, failure: false }, fallback: { delay: 1000, failure: false } })
        yield* Effect.sleep("5 seconds")
        yield* setBoth(stack, healthyBoth)
        return ["default answering in 4 s (over PROCESSOR_TIMEOUT) and fallback in 1 s, for 5 s"]
      })
  }
]

/** How long the backlog may take to drain once the processors are healthy again. */
const drainBound = "60 seconds"

/**
 * After a fault, once the backlog drained: the service counts exactly what
 * each processor holds (requests and amount), every accepted payment is held
 * by exactly one processor, and none that was not accepted is held twice.
 */
const audit = (
  stack: PaymentsStack,
  _fault: Faults.Fault<PaymentsStack>,
  answers: ReadonlyArray<Traffic.Answer<Payment>>
) =>
  Effect.gen(function* () {
    yield* setBoth(stack, healthyBoth)
    const left = yield* pending(stack).pipe(
      Effect.repeat({ schedule: Schedule.spaced("250 millis"), until: (count) => count === 0 }),
      Effect.timeoutOrElse({ duration: drainBound, orElse: () => pending(stack) })
    )
    const ours = yield* serviceSummary(stack)
    const theirs = yield* Effect.all({
      default: Simulators.summary(stack.simulators, "default"),
      fallback: Simulators.summary(stack.simulators, "fallback")
    })
    const held = yield* Effect.forEach(
      answers,
      (answer) =>
        Effect.map(
          Effect.all(
            Simulators.processorNames.map((processor) =>
              Simulators.holds(stack.simulators, processor, answer.request.tag.correlationId)
            )
          ),
          (holders) => ({ answer, holders: holders.filter(Boolean).length })
        ),
      { concurrency: 32 }
    )
    const acknowledged = held.filter(({ answer }) => accepted(answer))
    const lost = acknowledged.filter(({ holders }) => holders === 0)
    const twice = held.filter(({ holders }) => holders > 1)
    const unacknowledgedHeld = held.filter(({ answer, holders }) => !accepted(answer) && holders > 0).length
    const mismatches = Simulators.processorNames.flatMap((processor) =>
      ours[processor].totalRequests !== theirs[processor].totalRequests ||
      // The service's summary decodes to cents (its Schema); the simulator's amount is decimal.
      ours[processor].totalAmount !== Math.round(theirs[processor].totalAmount * 100)
        ? [
            `${processor}: the service counts ${ours[processor].totalRequests} (${money(ours[processor].totalAmount / 100)}), the processor holds ${theirs[processor].totalRequests} (${money(theirs[processor].totalAmount)})`
          ]
        : []
    )
    return {
      findings: [
        ...(left > 0
          ? [`${left} accepted payments still not dispatched ${drainBound} after the processors recovered`]
          : []),
        ...mismatches,
        ...(lost.length > 0
          ? [
              `${lost.length} accepted payments lost (held by no processor), e.g. ${lost[0]?.answer.request.tag.correlationId}`
            ]
          : []),
        ...(twice.length > 0
          ? [`${twice.length} payments held by both processors, e.g. ${twice[0]?.answer.request.tag.correlationId}`]
          : [])
      ],
      notes: [
        `${acknowledged.length - lost.length} of ${acknowledged.length} accepted payments held by exactly one processor`,
        `service: default ${ours.default.totalRequests}, fallback ${ours.fallback.totalRequests}; processors: default ${theirs.default.totalRequests}, fallback ${theirs.fallback.totalRequests}`,
        ...(answers.length > acknowledged.length
          ? [
              `${unacknowledgedHeld} of ${answers.length - acknowledged.length} payments without a 2XX were processed anyway`
            ]
          : [])
      ]
    } satisfies Faults.AuditResult
  })

/**
 * Payments for the fault suite: with JOURNAL on unless `settings` say
 * otherwise (it is the mode that promises to lose nothing on kill -9).
 */
export const faultTarget = (options: Faults.TargetOptions): Faults.Target<PaymentsStack, Payment> => {
  const apiEnvironment = { JOURNAL: "true", ...options.settings }
  return {
    label: `payments (${Options.settingsText(apiEnvironment).join(" ")})`,
    up: up(Simulators.freePorts)({
      service: "payments",
      pgProfile: "contest",
      port: options.port,
      verbose: options.verbose,
      apiEnvironment,
      upstreamLog: true
    }),
    rate: options.rate,
    request,
    failed: (answer) => !accepted(answer),
    inconsistent: () => false,
    serving: (stack, answers) =>
      Effect.flatMap(Faults.everyApiHealthy(stack), (healthy) =>
        healthy ? caughtUp(stack, answers) : Effect.succeed(false)
      ),
    prepare: (stack) =>
      Effect.gen(function* () {
        yield* setBoth(stack, healthyBoth)
        yield* Effect.forEach(Simulators.processorNames, (processor) => Simulators.purge(stack.simulators, processor))
        yield* Effect.tryPromise(() => fetch(`${stack.url}/purge-payments`, { method: "POST" })).pipe(Effect.orDie)
      }),
    faults: faults.filter((fault) => options.faults.length === 0 || options.faults.includes(fault.name)),
    audit
  }
}

// --- the fuzz check ----------------------------------------------------------------

const SentPayment = Schema.fromJsonString(Schema.Struct({ correlationId: Schema.String, amount: Schema.Number }))
const decodeSent = Schema.decodeUnknownOption(SentPayment)

/** A payment as schemathesis sent it and the answer it got, in the order sent. */
interface Sent {
  /** In lower case, as the service's uuid column prints it. */
  readonly correlationId: string
  readonly sentAs: string
  readonly cents: number
  readonly accepted: boolean
  /** Sent after the last purge answered 200. */
  readonly afterPurge: boolean
}

const sentPayments = (exchanges: ReadonlyArray<Schemathesis.Exchange>): ReadonlyArray<Sent> => {
  const lastPurge = exchanges.findLastIndex(
    (exchange) =>
      exchange.request.method === "POST" &&
      Schemathesis.pathOf(exchange) === "/purge-payments" &&
      exchange.response.status === 200
  )
  return exchanges.flatMap((exchange, index) => {
    if (exchange.request.method !== "POST" || Schemathesis.pathOf(exchange) !== "/payments") return []
    return Option.match(decodeSent(exchange.request.postData?.text ?? ""), {
      onNone: () => [],
      onSome: (body) => [
        {
          correlationId: body.correlationId.toLowerCase(),
          sentAs: body.correlationId,
          cents: Math.round(body.amount * 100),
          accepted: exchange.response.status === 202,
          afterPurge: index > lastPurge
        }
      ]
    })
  })
}

/**
 * What the service recorded (`payments`, the source of its summary) and
 * what the processors hold, against what schemathesis was answered: every
 * recorded payment was answered 202 with that amount; every 202 since the
 * last purge is recorded; every 202 is held by exactly one processor, and
 * nothing refused is held by any. The fuzzer's requests are sent one at a
 * time, so "since the last purge" is exact.
 */
export const comparePayments = (
  recorded: ReadonlyArray<{ readonly correlation_id: string; readonly amount_cents: number }>,
  holders: ReadonlyMap<string, number>,
  exchanges: ReadonlyArray<Schemathesis.Exchange>
): Faults.AuditResult => {
  const sent = sentPayments(exchanges)
  const acceptedAmounts = new Map<string, Set<number>>()
  for (const payment of sent.filter((payment) => payment.accepted)) {
    acceptedAmounts.set(
      payment.correlationId,
      (acceptedAmounts.get(payment.correlationId) ?? new Set()).add(payment.cents)
    )
  }
  const recordedIds = new Set(recorded.map((row) => row.correlation_id))
  const unacknowledged = recorded
    .filter((row) => !acceptedAmounts.get(row.correlation_id)?.has(row.amount_cents))
    .map((row) => `${row.correlation_id} (${row.amount_cents} cents)`)
  const notRecorded = [
    ...new Set(
      sent
        .filter((payment) => payment.accepted && payment.afterPurge && !recordedIds.has(payment.correlationId))
        .map((payment) => payment.correlationId)
    )
  ]
  const lost = [...acceptedAmounts.keys()].filter((id) => (holders.get(id) ?? 0) === 0)
  const twice = [...holders].filter(([, count]) => count > 1).map(([id]) => id)
  const refusedHeld = [
    ...new Set(
      sent
        .filter((payment) => !payment.accepted && !acceptedAmounts.has(payment.correlationId))
        .map((payment) => payment.correlationId)
    )
  ].filter((id) => (holders.get(id) ?? 0) > 0)
  return {
    findings: [
      ...Faults.findingsOf("payments recorded that no request was answered 202 for (with that amount)", unacknowledged),
      ...Faults.findingsOf("payments answered 202 since the last purge but not recorded", notRecorded),
      ...Faults.findingsOf("payments answered 202 held by no processor", lost),
      ...Faults.findingsOf("payments held by both processors", twice),
      ...Faults.findingsOf("payments refused but held by a processor", refusedHeld)
    ],
    notes: [
      `${sent.filter((payment) => payment.accepted).length} of ${sent.length} POST /payments answered 202 (${acceptedAmounts.size} correlationIds); ${recorded.length} recorded since the last purge`
    ]
  }
}

const recordedPayments = (databaseUrl: string) =>
  Effect.gen(function* () {
    const sql = yield* clientFor(databaseUrl)
    return yield* sql<{ correlation_id: string; amount_cents: number }>`
      SELECT correlation_id::text, amount_cents::int FROM payments`
  }).pipe(Effect.scoped, Effect.orDie)

/** Payments for the fuzz check: its stack and both simulators, fuzzed through nginx as its clients reach it. */
export const fuzzTarget = (options: { readonly verbose: boolean }): Fuzz.Target<PaymentsStack> => ({
  name: "payments",
  up: Effect.tap(
    up(Simulators.freePorts)({ service: "payments", pgProfile: "contest", port: 0, verbose: options.verbose }),
    (stack) => Fuzz.awaitReady(`${stack.url}/healthz`)
  ),
  url: (stack) => stack.url,
  passes: [{ name: "all", config: "payments.toml", mode: "all", examplesFactor: 1 }],
  audit: (stack, exchanges) =>
    Effect.gen(function* () {
      const left = yield* pending(stack).pipe(
        Effect.repeat({ schedule: Schedule.spaced("250 millis"), until: (count) => count === 0 }),
        Effect.timeoutOrElse({ duration: drainBound, orElse: () => pending(stack) })
      )
      // Asked as sent: a processor keeps the id as it was given, the service's uuid column in lower case.
      const ids = [...new Set(sentPayments(exchanges).map((payment) => payment.sentAs))].filter(Simulators.holdable)
      const held = yield* Effect.forEach(
        ids,
        (id) =>
          Effect.map(
            Effect.all(Simulators.processorNames.map((processor) => Simulators.holds(stack.simulators, processor, id))),
            (holders) => ({ id: id.toLowerCase(), count: holders.filter(Boolean).length })
          ),
        { concurrency: 16 }
      )
      const holders = new Map<string, number>()
      for (const { count, id } of held) holders.set(id, (holders.get(id) ?? 0) + count)
      const compared = comparePayments(yield* recordedPayments(stack.databaseUrl), holders, exchanges)
      return {
        findings: [
          ...(left > 0 ? [`${left} accepted payments still not dispatched ${drainBound} after the run`] : []),
          ...compared.findings
        ],
        notes: compared.notes
      }
    })
})
