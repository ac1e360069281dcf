/**
 * The Payments contest load (shared/spec/payments.md, "The contest load"):
 *
 *   k6 run -e BASE_URL=http://localhost:9999 \
 *          -e PROCESSOR_DEFAULT_URL=http://localhost:8001 -e PROCESSOR_FALLBACK_URL=http://localhost:8002 \
 *          -e PROCESSOR_TOKEN=123 -e PROFILE=contest k6/payments.ts
 *
 * PROFILE=contest  virtual users ramp from 1 to 550 over 60 s, each paying
 *                  19.90 then sleeping 1 s (about 16,750 payments);
 * PROFILE=smoke    the same 60 s and the same processor conditions with at
 *                  most 100 users (about 3,000 payments), for CI.
 *
 * Setup sets a new admin token and purges everything; a scenario applies the
 * contest's processor conditions every 10 s through the admin endpoints; an
 * auditor compares the service's summary with the processors' every 10 s;
 * teardown reads the final totals and restores the processors (token 123,
 * no delay, not failing) so the stack can run the contest again. The score,
 * with the contest's formula, is printed and written to RESULT_FILE (JSON, the
 * shape k6/lib/payments.ts declares for the harness).
 */
import { check, fail, sleep } from "k6"
import http from "k6/http"
import { Counter, Gauge } from "k6/metrics"
import type { Options } from "k6/options"
import type { PaymentsResult } from "./lib/payments.ts"

// k6 has these globals; its type package does not declare them.
declare const crypto: { randomUUID(): string }
declare const console: { warn(...values: ReadonlyArray<unknown>): void }

const baseUrl = __ENV.BASE_URL ?? "http://localhost:9999"
const processorUrls = {
  default: __ENV.PROCESSOR_DEFAULT_URL ?? "http://localhost:8001",
  fallback: __ENV.PROCESSOR_FALLBACK_URL ?? "http://localhost:8002"
} as const
const initialToken = __ENV.PROCESSOR_TOKEN ?? "123"
const profile = __ENV.PROFILE ?? "contest"
const maxUsers = profile === "smoke" ? 100 : 550

type Processor = keyof typeof processorUrls
const processors: ReadonlyArray<Processor> = ["default", "fallback"]

/** The processors' conditions from each instant on: [delay ms, failing]. */
const conditions: ReadonlyArray<{ at: number } & Record<Processor, readonly [number, boolean]>> = [
  { at: 1, default: [0, false], fallback: [0, false] },
  { at: 10, default: [100, false], fallback: [0, false] },
  { at: 20, default: [100, true], fallback: [0, false] },
  { at: 30, default: [2000, true], fallback: [1000, true] },
  { at: 40, default: [20, false], fallback: [20, false] },
  { at: 50, default: [0, false], fallback: [5000, false] }
]

const requested = new Counter("payments_requested")
const inconsistencies = new Counter("inconsistencies")
const audits = new Counter("audits")
// The final totals, read in teardown, for handleSummary's score.
const finalTotals = {
  serviceRequests: {
    default: new Gauge("final_service_default_requests"),
    fallback: new Gauge("final_service_fallback_requests")
  },
  serviceAmount: {
    default: new Gauge("final_service_default_amount"),
    fallback: new Gauge("final_service_fallback_amount")
  },
  processorRequests: {
    default: new Gauge("final_processor_default_requests"),
    fallback: new Gauge("final_processor_fallback_requests")
  },
  fee: { default: new Gauge("final_processor_default_fee"), fallback: new Gauge("final_processor_fallback_fee") }
}

export const options: Options = {
  scenarios: {
    payments: {
      executor: "ramping-vus",
      exec: "pay",
      startVUs: 1,
      stages: [{ duration: "60s", target: maxUsers }],
      gracefulRampDown: "0s"
    },
    conditions: { executor: "shared-iterations", exec: "applyConditions", vus: 1, iterations: 1, maxDuration: "70s" },
    audit: {
      executor: "constant-arrival-rate",
      exec: "audit",
      rate: 1,
      timeUnit: "10s",
      duration: "60s",
      startTime: "10s",
      preAllocatedVUs: 1
    }
  },
  // The bonus counts p99 over the successful requests: this makes k6 keep that submetric.
  thresholds: { "http_req_duration{expected_response:true}": ["p(99)>=0"] },
  summaryTrendStats: ["avg", "min", "med", "max", "p(90)", "p(99)"]
}

interface Totals {
  readonly totalRequests: number
  readonly totalAmount: number
}
interface ServiceSummary {
  readonly default: Totals
  readonly fallback: Totals
}
interface ProcessorSummary extends Totals {
  readonly totalFee: number
  readonly feePerTransaction: number
}
interface SetupData {
  readonly token: string
}

const json = { "content-type": "application/json" }
const admin = (token: string) => ({ ...json, "X-Rinha-Token": token })

const adminCall = (method: "PUT" | "POST", processor: Processor, path: string, token: string, body: unknown) => {
  const response = http.request(method, `${processorUrls[processor]}/admin${path}`, JSON.stringify(body), {
    headers: admin(token),
    tags: { name: `${method} /admin${path}` }
  })
  if (response.status >= 300) fail(`${processor} ${method} /admin${path}: ${response.status} ${response.body}`)
}

const setConditions = (processor: Processor, [delay, failure]: readonly [number, boolean], token: string) => {
  adminCall("PUT", processor, "/configurations/delay", token, { delay })
  adminCall("PUT", processor, "/configurations/failure", token, { failure })
}

const range = (from?: string, to?: string) => (from === undefined || to === undefined ? "" : `?from=${from}&to=${to}`)

const serviceSummary = (from?: string, to?: string): ServiceSummary => {
  const response = http.get(`${baseUrl}/payments-summary${range(from, to)}`, {
    tags: { name: "GET /payments-summary" }
  })
  if (response.status !== 200) fail(`GET /payments-summary: ${response.status}`)
  return response.json() as unknown as ServiceSummary
}

const processorSummary = (processor: Processor, token: string, from?: string, to?: string): ProcessorSummary => {
  const response = http.get(`${processorUrls[processor]}/admin/payments-summary${range(from, to)}`, {
    headers: admin(token),
    tags: { name: "GET /admin/payments-summary" }
  })
  if (response.status !== 200) fail(`${processor} GET /admin/payments-summary: ${response.status}`)
  return response.json() as unknown as ProcessorSummary
}

export function setup(): SetupData {
  const token = `rinha-${crypto.randomUUID()}`
  for (const processor of processors) {
    adminCall("PUT", processor, "/configurations/token", initialToken, { token })
    adminCall("POST", processor, "/purge-payments", token, {})
    setConditions(processor, [0, false], token)
  }
  const purge = http.post(`${baseUrl}/purge-payments`)
  if (purge.status !== 200) fail(`POST /purge-payments: ${purge.status}`)
  return { token }
}

export function pay() {
  requested.add(1)
  http.post(`${baseUrl}/payments`, JSON.stringify({ correlationId: crypto.randomUUID(), amount: 19.9 }), {
    headers: json,
    timeout: "1500ms",
    tags: { name: "POST /payments" }
  })
  sleep(1)
}

export function applyConditions(data: SetupData) {
  const start = Date.now()
  for (const stage of conditions) {
    sleep(Math.max(0, stage.at - (Date.now() - start) / 1000))
    for (const processor of processors) setConditions(processor, stage[processor], data.token)
  }
}

/** The contest's auditor: totalRequests must match over [now - 15 s, now - 1.5 s]. */
export function audit(data: SetupData) {
  const now = Date.now()
  const from = new Date(now - 15_000).toISOString()
  const to = new Date(now - 1_500).toISOString()
  const ours = serviceSummary(from, to)
  audits.add(1)
  for (const processor of processors) {
    const theirs = processorSummary(processor, data.token, from, to)
    const same = ours[processor].totalRequests === theirs.totalRequests
    check(null, { [`audit: ${processor} totalRequests match`]: () => same })
    if (!same) {
      inconsistencies.add(1, { processor })
      console.warn(
        `audit ${to}: ${processor} service ${ours[processor].totalRequests} vs processor ${theirs.totalRequests}`
      )
    }
  }
}

export function teardown(data: SetupData) {
  const ours = serviceSummary()
  for (const processor of processors) {
    const theirs = processorSummary(processor, data.token)
    finalTotals.serviceRequests[processor].add(ours[processor].totalRequests)
    finalTotals.serviceAmount[processor].add(ours[processor].totalAmount)
    finalTotals.processorRequests[processor].add(theirs.totalRequests)
    finalTotals.fee[processor].add(theirs.feePerTransaction)
    if (ours[processor].totalRequests !== theirs.totalRequests) inconsistencies.add(1, { processor, final: "true" })
  }
  for (const processor of processors) {
    setConditions(processor, [0, false], data.token)
    adminCall("PUT", processor, "/configurations/token", data.token, { token: initialToken })
  }
}

interface SummaryData {
  readonly metrics: Record<string, { readonly values: Record<string, number> } | undefined>
}

export function handleSummary(data: SummaryData) {
  const value = (metric: string, key: string) => data.metrics[metric]?.values[key] ?? 0
  const p99 = value("http_req_duration{expected_response:true}", "p(99)")
  const service = (processor: Processor) => ({
    totalRequests: value(`final_service_${processor}_requests`, "value"),
    totalAmount: value(`final_service_${processor}_amount`, "value"),
    processorRequests: value(`final_processor_${processor}_requests`, "value"),
    feePerTransaction: value(`final_processor_${processor}_fee`, "value")
  })
  const totals = { default: service("default"), fallback: service("fallback") }
  const requestedPayments = value("payments_requested", "count")
  const recorded = totals.default.totalRequests + totals.fallback.totalRequests
  const seen = value("inconsistencies", "count")
  const gross = totals.default.totalAmount + totals.fallback.totalAmount
  const fees =
    totals.default.totalAmount * totals.default.feePerTransaction +
    totals.fallback.totalAmount * totals.fallback.feePerTransaction
  const net = gross - fees
  const bonus = Math.max((11 - p99) * 0.02, 0)
  const fine = seen > 0 ? 0.35 : 0
  const result = {
    requested: requestedPayments,
    recorded,
    lag: requestedPayments - recorded,
    disqualified: recorded > requestedPayments,
    inconsistencies: seen,
    audits: value("audits", "count"),
    p99Ms: p99,
    bonus,
    fine,
    gross,
    fees,
    net,
    score: net * (1 + bonus - fine),
    processors: totals,
    defaultShare: recorded === 0 ? 0 : totals.default.totalRequests / recorded
  } satisfies PaymentsResult
  const text = [
    `payments requested ${result.requested}, recorded ${result.recorded} (lag ${result.lag})`,
    `  default  ${totals.default.totalRequests} (${totals.default.totalAmount.toFixed(2)})`,
    `  fallback ${totals.fallback.totalRequests} (${totals.fallback.totalAmount.toFixed(2)})`,
    `inconsistencies ${seen} in ${result.audits} audits + final check; p99 ${p99.toFixed(2)} ms, bonus ${(bonus * 100).toFixed(1)}%`,
    `net ${net.toFixed(2)}; SCORE ${result.score.toFixed(2)}${result.disqualified ? " (DISQUALIFIED: more recorded than requested)" : ""}`
  ].join("\n")
  const outputs: Record<string, string> = { stdout: `\n${text}\n` }
  if (__ENV.RESULT_FILE !== undefined) outputs[__ENV.RESULT_FILE] = `${JSON.stringify(result, null, 2)}\n`
  return outputs
}
