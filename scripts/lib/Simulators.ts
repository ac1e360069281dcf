/**
 * The two Payment Processors of the contest, as simulator processes on this
 * machine (src/ProcessorSim): `default` with a 5% fee and `fallback` with
 * 15%, both with the contest's initial admin token. They stand for the
 * contest's own containers, which are not ours to cap: they run uncapped.
 * Their admin endpoints set the conditions (delay, failure) and say what
 * they hold, which is how the contest and the fault suite drive and audit them.
 */

import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpApiClient from "effect/http-api/HttpApiClient"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { freePort, repositoryRoot, spawnProcess, stopGracefully } from "../../local/Processes.ts"
import { type ProcessorName, processorNames } from "../../src/Payments/Domain.ts"
import { ProcessorSimApi } from "../../src/ProcessorSim/Api.ts"
import { CorrelationId, type ProcessorStats } from "../../src/ProcessorSim/Domain.ts"
import { buildOnce } from "./Bundle.ts"
import * as Faults from "./Faults.ts"
import type * as Fuzz from "./Fuzz.ts"
import * as Schemathesis from "./Schemathesis.ts"

export { type ProcessorName, type ProcessorStats, processorNames }

/** Where each simulator listens; 0 for a free port, so that stacks can run side by side. */
export type Ports = Readonly<Record<ProcessorName, number>>

/** What `npm run stack:payments` documents: the ports the contest's processors are usually reached on. */
export const documentedPorts: Ports = { default: 8001, fallback: 8002 }

export const freePorts: Ports = { default: 0, fallback: 0 }

/** The contest's initial admin token (it sets another before each run). */
const initialToken = "123"

const fees: Readonly<Record<ProcessorName, string>> = { default: "0.05", fallback: "0.15" }

/** The simulator's own API, typed from its definition, with the admin token set. */
export type Client = HttpApiClient.ForApi<typeof ProcessorSimApi>

export interface Simulators {
  readonly urls: Readonly<Record<ProcessorName, string>>
  readonly token: string
  readonly clients: Readonly<Record<ProcessorName, Client>>
}

/** Where the API instances find the simulators, in their configuration's terms. */
export const apiEnvironment = (simulators: Simulators) => ({
  PROCESSOR_DEFAULT_URL: simulators.urls.default,
  PROCESSOR_FALLBACK_URL: simulators.urls.fallback
})

/** Both simulators from the bundle, built first (a fresh clone has none), for the life of the scope. */
export const start = Effect.fn("Simulators.start")(function* (ports: Ports, verbose: boolean) {
  yield* buildOnce
  const simulator = Effect.fn(function* (name: ProcessorName) {
    const port = ports[name] === 0 ? yield* freePort : ports[name]
    const running = yield* spawnProcess(process.execPath, [join(repositoryRoot, "dist", "processor-sim.mjs")], {
      env: { PORT: String(port), PROCESSOR_FEE: fees[name], PROCESSOR_TOKEN: initialToken },
      ready: /Listening on/,
      ...(verbose ? { echo: `processor-${name}` } : {})
    })
    yield* Effect.addFinalizer(() => stopGracefully(running, "SIGTERM"))
    const url = `http://127.0.0.1:${port}`
    const client = yield* HttpApiClient.make(ProcessorSimApi, {
      baseUrl: url,
      transformClient: HttpClient.mapRequest(HttpClientRequest.setHeader("x-rinha-token", initialToken))
    }).pipe(Effect.provide(FetchHttpClient.layer))
    return { url, client }
  })
  const [first, second] = yield* Effect.all([simulator("default"), simulator("fallback")], {
    concurrency: "unbounded"
  })
  return {
    urls: { default: first.url, fallback: second.url },
    token: initialToken,
    clients: { default: first.client, fallback: second.client }
  } satisfies Simulators
})

/** The conditions the contest changes during a run: a delay added to every payment (ms), and failing (500, nothing stored). */
export interface Conditions {
  readonly delay: number
  readonly failure: boolean
}

export const healthy: Conditions = { delay: 0, failure: false }

export const setConditions = (simulators: Simulators, processor: ProcessorName, conditions: Conditions) =>
  Effect.all([
    simulators.clients[processor].admin.setDelay({ payload: { delay: conditions.delay } }),
    simulators.clients[processor].admin.setFailure({ payload: { failure: conditions.failure } })
  ]).pipe(Effect.orDie, Effect.asVoid)

/** Everything a simulator holds, and what it charges. */
export const summary = (simulators: Simulators, processor: ProcessorName) =>
  simulators.clients[processor].admin.summary({ query: {} }).pipe(Effect.orDie)

/** The simulator-only counters: health calls answered and refused, payments refused. */
export const stats = (simulators: Simulators, processor: ProcessorName) =>
  simulators.clients[processor].admin.stats().pipe(Effect.orDie)

export const purge = (simulators: Simulators, processor: ProcessorName) =>
  simulators.clients[processor].admin.purge().pipe(Effect.orDie, Effect.asVoid)

/** Whether a simulator holds a payment with this correlationId. */
export const holds = (simulators: Simulators, processor: ProcessorName, correlationId: string) =>
  simulators.clients[processor].payments.find({ params: { id: correlationId } }).pipe(
    Effect.as(true),
    Effect.catchTag("PaymentNotFound", () => Effect.succeed(false)),
    Effect.orDie
  )

// --- the fuzz check ----------------------------------------------------------------

/**
 * The admin endpoints that change what the simulator answers afterwards, by
 * design: failing makes every payment a 500, a new token locks the admin
 * out, a delay slows every payment. Fuzzed with invalid requests only, and
 * the audit checks that none of them changed anything.
 */
export const controlOperations = [
  "PUT /admin/configurations/token",
  "PUT /admin/configurations/delay",
  "PUT /admin/configurations/failure"
]

/** Whether a processor could hold a payment under this id: it refuses any that is not a UUID (and a lookup by it names no payment). */
export const holdable = Schema.is(CorrelationId)

const SentPayment = Schema.fromJsonString(Schema.Struct({ correlationId: Schema.String, amount: Schema.Number }))
const decodeSent = Schema.decodeUnknownOption(SentPayment)

/** The payments schemathesis sent since the last purge answered 200: accepted (200) and refused, by correlationId. */
export const sentSincePurge = (exchanges: ReadonlyArray<Schemathesis.Exchange>) => {
  const lastPurge = exchanges.findLastIndex(
    (exchange) =>
      exchange.request.method === "POST" &&
      Schemathesis.pathOf(exchange) === "/admin/purge-payments" &&
      exchange.response.status === 200
  )
  const accepted = new Map<string, number>()
  const refused = new Set<string>()
  for (const exchange of exchanges.slice(lastPurge + 1)) {
    if (exchange.request.method !== "POST" || Schemathesis.pathOf(exchange) !== "/payments") continue
    const sent = decodeSent(exchange.request.postData?.text ?? "")
    if (Option.isNone(sent)) continue
    if (exchange.response.status === 200) accepted.set(sent.value.correlationId, sent.value.amount)
    else refused.add(sent.value.correlationId)
  }
  for (const id of refused) if (accepted.has(id) || !holdable(id)) refused.delete(id)
  return { accepted, refused }
}

/**
 * What the simulator holds against what schemathesis was answered, and its
 * conditions as they were: the admin token still the initial one, no delay,
 * not failing. Every payment answered 200 since the last purge is held with
 * its amount, the summary counts exactly those, and none refused is held.
 */
export const audit = (simulators: Simulators, exchanges: ReadonlyArray<Schemathesis.Exchange>) =>
  Effect.gen(function* () {
    const { accepted, refused } = sentSincePurge(exchanges)
    const client = simulators.clients.default
    const summary = yield* Effect.exit(client.admin.summary({ query: {} }))
    if (Exit.isFailure(summary)) {
      return {
        findings: ["the admin token is not the initial one any more (or the admin is broken): its summary was refused"],
        notes: []
      }
    }
    const delay = yield* Effect.orDie(client.admin.setDelay({ payload: { delay: 0 } }))
    const failure = yield* Effect.orDie(client.admin.setFailure({ payload: { failure: false } }))
    const found = yield* Effect.forEach(
      [...accepted.keys(), ...refused],
      (id) =>
        client.payments.find({ params: { id } }).pipe(
          Effect.map((payment) => ({ id, amount: Option.some(payment.amount) })),
          Effect.catchTag("PaymentNotFound", () => Effect.succeed({ id, amount: Option.none<number>() })),
          Effect.orDie
        ),
      { concurrency: 16 }
    )
    // The simulator keeps whole cents, rounded half up on the decimal as written (Processor.ts).
    const cents = (amount: number) => Math.round(Number((amount * 100).toPrecision(15)))
    const missing = found
      .filter(
        ({ amount, id }) =>
          accepted.has(id) &&
          !Option.contains(
            Option.map(amount, (held) => Math.round(held * 100)),
            cents(accepted.get(id) ?? Number.NaN)
          )
      )
      .map(({ id }) => id)
    const refusedHeld = found.filter(({ amount, id }) => refused.has(id) && Option.isSome(amount)).map(({ id }) => id)
    return {
      findings: [
        ...(delay.was !== 0 ? [`the delay was changed to ${delay.was} ms`] : []),
        ...(failure.was ? ["failing was switched on"] : []),
        ...(summary.value.totalRequests !== accepted.size
          ? [
              `the summary counts ${summary.value.totalRequests} payments, ${accepted.size} were answered 200 since the last purge`
            ]
          : []),
        ...Faults.findingsOf("payments answered 200 not held with their amount", missing),
        ...Faults.findingsOf("payments refused but held", refusedHeld)
      ],
      notes: [
        `${accepted.size} payments answered 200 since the last purge, ${summary.value.totalRequests} in the summary; ${refused.size} refused`
      ]
    } satisfies Faults.AuditResult
  })

/** The simulator for the fuzz check: one process of its bundle, fuzzed directly (the contest runs it without nginx). */
export const fuzzTarget = (options: { readonly verbose: boolean }): Fuzz.Target<Simulators> => ({
  name: "processor-sim",
  up: start(freePorts, options.verbose),
  url: (simulators) => simulators.urls.default,
  passes: [
    {
      name: "all",
      config: "processor-sim.toml",
      mode: "all",
      exclude: controlOperations,
      headers: { "X-Rinha-Token": initialToken },
      examplesFactor: 1
    },
    {
      name: "control, invalid only",
      config: "processor-sim.toml",
      mode: "negative",
      include: controlOperations,
      headers: { "X-Rinha-Token": initialToken },
      examplesFactor: 1
    }
  ],
  audit: (simulators, exchanges) => audit(simulators, exchanges)
})
