import { randomUUID } from "node:crypto"
import { createServer, request } from "node:http"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpServer from "effect/http/HttpServer"
import * as HttpApiClient from "effect/http-api/HttpApiClient"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { Api } from "../../src/Payments/Api.ts"
import { Cents, type PaymentRequest, type PaymentsSummary, type ProcessorTotals } from "../../src/Payments/Domain.ts"
import { PaymentsServer } from "../../src/Payments/main.ts"
import { clientFor } from "../../src/Platform/Sql.ts"
import { ProcessorSimApi } from "../../src/ProcessorSim/Api.ts"
import { ProcessorSimServer } from "../../src/ProcessorSim/main.ts"
import { freshDatabase } from "./Database.ts"

/** A test with real servers and real time: its own database and simulators, gone at its end. */
export const live = <A, E>(effect: Effect.Effect<A, E, Scope.Scope | HttpClient.HttpClient>) =>
  effect.pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))

const processorToken = "123"

/** Where a server built in this process listens. */
const urlOf = (context: Context.Context<HttpServer.HttpServer>) => {
  const { address } = Context.get(context, HttpServer.HttpServer)
  if (address._tag === "UnixPathAddress") throw new Error("expected a TCP server")
  return `http://127.0.0.1:${address.port}`
}

const withEnv = (env: Readonly<Record<string, string>>) => ConfigProvider.layer(ConfigProvider.fromEnv({ env }))

/** A Payment Processor simulator on a free port, and its typed admin client. */
export const simulator = (fee: string, env: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function* () {
    const server = yield* Layer.build(
      ProcessorSimServer.pipe(
        Layer.provide(withEnv({ PORT: "0", PROCESSOR_FEE: fee, PROCESSOR_TOKEN: processorToken, ...env }))
      )
    )
    const url = urlOf(server)
    const client = yield* HttpApiClient.make(ProcessorSimApi, {
      baseUrl: url,
      transformClient: HttpClient.mapRequest(HttpClientRequest.setHeader("x-rinha-token", processorToken))
    })
    return { url, admin: client.admin }
  })
export type Simulator = Effect.Success<ReturnType<typeof simulator>>

/** A processor's delay (ms) and failure flag, through its admin endpoints. */
export const setConditions = (processor: Simulator, delay: number, failure: boolean) =>
  Effect.all([
    processor.admin.setDelay({ payload: { delay } }),
    processor.admin.setFailure({ payload: { failure } })
  ]).pipe(Effect.orDie)

/** A processor's address through a proxy that keeps the body of every `POST /payments` it forwards. */
export const recordingProxy = (target: Simulator) =>
  Effect.acquireRelease(
    Effect.callback<{ readonly url: string; readonly payments: Array<string>; readonly close: () => void }>(
      (resume) => {
        const payments: Array<string> = []
        const { hostname, port } = new URL(target.url)
        const server = createServer((incoming, outgoing) => {
          const chunks: Array<Buffer> = []
          incoming.on("data", (chunk: Buffer) => chunks.push(chunk))
          incoming.once("end", () => {
            const body = Buffer.concat(chunks)
            if (incoming.method === "POST" && incoming.url === "/payments") payments.push(body.toString("utf8"))
            const forwarded = request(
              { hostname, port, method: incoming.method, path: incoming.url, headers: incoming.headers },
              (answer) => {
                outgoing.writeHead(answer.statusCode ?? 502, answer.headers)
                answer.pipe(outgoing)
              }
            )
            forwarded.once("error", () => outgoing.destroy())
            forwarded.end(body)
          })
        })
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          const proxyPort = typeof address === "object" && address !== null ? address.port : 0
          const close = () => {
            server.closeAllConnections()
            server.close()
          }
          resume(Effect.succeed({ url: `http://127.0.0.1:${proxyPort}`, payments, close }))
        })
      }
    ),
    (proxy) => Effect.sync(() => proxy.close())
  )

export interface Environment {
  readonly databaseUrl: string
  readonly processorDefault: Simulator
  readonly processorFallback: Simulator
}

/** A fresh database and both simulators (default 5%, fallback 15%), for the life of the scope. */
export const environment = (simulatorEnv: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function* () {
    const database = yield* freshDatabase
    const [processorDefault, processorFallback] = yield* Effect.all([
      simulator("0.05", simulatorEnv),
      simulator("0.15", simulatorEnv)
    ])
    return { databaseUrl: database.url, processorDefault, processorFallback } satisfies Environment
  })

/**
 * The settings every test instance runs with: no warm-up, and the health
 * loop and probes quick enough for tests to see them act.
 */
export const instanceEnv = (env: Environment, overrides: Readonly<Record<string, string>> = {}) => ({
  DATABASE_URL: env.databaseUrl,
  PORT: "0",
  PROCESSOR_DEFAULT_URL: env.processorDefault.url,
  PROCESSOR_FALLBACK_URL: env.processorFallback.url,
  INSTANCE_ID: "api01",
  WARMUP_REQUESTS: "0",
  PROBE_INTERVAL: "50 millis",
  HEALTH_POLL: "100 millis",
  ...overrides
})

/** Where an instance dispatches: on its HTTP thread (the default), or in a worker thread (DISPATCH_WORKER). */
export const dispatchModes = [
  { name: "dispatch on the HTTP thread", env: {} },
  { name: "dispatch in a worker thread", env: { DISPATCH_WORKER: "true" } }
] as const

/** One Payments API instance in this process, until the scope closes (what SIGTERM does). */
export const instance = (env: Environment, overrides: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function* () {
    const server = yield* Layer.build(PaymentsServer.pipe(Layer.provide(withEnv(instanceEnv(env, overrides)))))
    const url = urlOf(server)
    const client = yield* HttpApiClient.make(Api, { baseUrl: url })
    return { url, client }
  })
export type Instance = Effect.Success<ReturnType<typeof instance>>

/** A payment of `cents` (19.90 by default) under a fresh correlationId; the client sends the decimal. */
export const newPayment = (cents = 1990): PaymentRequest => ({ correlationId: randomUUID(), amount: Cents.make(cents) })

/** POSTs a body as written and answers the status. */
export const postRaw = (url: string, body: string) =>
  Effect.gen(function* () {
    const http = yield* HttpClient.HttpClient
    const response = yield* http.execute(
      HttpClientRequest.post(`${url}/payments`).pipe(HttpClientRequest.bodyText(body, "application/json"))
    )
    return response.status
  }).pipe(Effect.orDie)

export const pay = (service: Instance, payment: PaymentRequest) =>
  service.client.payments.pay({ payload: payment }).pipe(Effect.orDie)

export const summaryOf = (service: Instance) => service.client.payments.summary({ query: {} }).pipe(Effect.orDie)

/** A processor's own totals over its whole book, its decimal total in cents like the service's summary. */
const processorTotals = (processor: Simulator) =>
  processor.admin.summary({ query: {} }).pipe(
    Effect.map(
      (summary): ProcessorTotals => ({
        totalRequests: summary.totalRequests,
        totalAmount: Cents.make(Math.round(summary.totalAmount * 100))
      })
    )
  )

/** Both processors' own totals, in the shape of the service's summary. */
export const processorsSummary = (env: Environment) =>
  Effect.all({ default: processorTotals(env.processorDefault), fallback: processorTotals(env.processorFallback) }).pipe(
    Effect.map((summary): PaymentsSummary => summary),
    Effect.orDie
  )

/** Polls `check` until it holds, for at most `within`; answers the last value either way. */
export const eventually = <A>(
  effect: Effect.Effect<A>,
  check: (value: A) => boolean,
  within: Duration.Input = "10 seconds"
) =>
  effect.pipe(
    Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: check }),
    Effect.timeoutOption(within),
    Effect.flatMap(() => effect)
  )

export const totalRecorded = (summary: PaymentsSummary) =>
  summary.default.totalRequests + summary.fallback.totalRequests

/** Rows left in pending_payments, straight from the database. */
export const pendingRows = (env: Environment) =>
  Effect.gen(function* () {
    const sql = yield* clientFor(env.databaseUrl)
    return yield* sql<{ correlation_id: string; owner: string; sent_to: string | null }>`
      SELECT correlation_id::text, owner, sent_to FROM pending_payments ORDER BY correlation_id`
  }).pipe(Effect.scoped, Effect.orDie)
