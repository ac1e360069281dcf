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
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpApiClient from "effect/http-api/HttpApiClient"
import { freePort, repositoryRoot, spawnProcess, stopGracefully } from "../../local/Processes.ts"
import { type ProcessorName, processorNames } from "../../src/Payments/Domain.ts"
import { ProcessorSimApi } from "../../src/ProcessorSim/Api.ts"
import type { ProcessorStats } from "../../src/ProcessorSim/Domain.ts"

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

/** Both simulators from the bundle (`npm run build`), for the life of the scope. */
export const start = Effect.fn("Simulators.start")(function* (ports: Ports, verbose: boolean) {
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
