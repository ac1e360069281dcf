/**
 * The Crébitos contest load (shared/spec/crebitos.md, "The contest load"):
 *
 *   k6 run -e BASE_URL=http://localhost:9999 -e PROFILE=contest k6/crebitos.ts
 *
 * PROFILE=contest  validations, then the open-model ramp of the contest:
 *                  debits 1→220/s, credits 1→110/s, statements 1→10/s over
 *                  2 min, then 2 min steady (about 61,500 requests);
 * PROFILE=smoke    the same shape in about 30 s at a tenth of the rates;
 * PROFILE=stress   closed model: VUS (default 300) virtual users with no
 *                  think time for DURATION (default 60s), to find the ceiling;
 * PROFILE=steady   the contest's peak rates (220/110/10 per second) from the
 *                  first second for DURATION (default 60s), no validations:
 *                  for tuning against a running stack, any number of times.
 *
 * Every consistency rule of the contract is checked; a violation counts in
 * the `inconsistencias` metric (the contest's fine), a wrong status is a KO.
 */
import { check, fail } from "k6"
import http, { type ObjectBatchRequest, type RefinedResponse, type ResponseType } from "k6/http"
import { Counter, Rate } from "k6/metrics"
import type { Options, Scenario } from "k6/options"
import { invalidPayloads, limites } from "./lib/crebitos.ts"

const baseUrl = __ENV.BASE_URL ?? "http://localhost:9999"
const profile = __ENV.PROFILE ?? "contest"

const inconsistencias = new Counter("inconsistencias")
const bons = new Rate("bons")

interface SaldoAtual {
  readonly limite: number
  readonly saldo: number
}
interface Extrato {
  readonly saldo: { readonly total: number; readonly limite: number; readonly data_extrato: string }
  readonly ultimas_transacoes: ReadonlyArray<{
    readonly descricao: string
    readonly valor: number
    readonly tipo: string
  }>
}

const json = { headers: { "content-type": "application/json" } }
const expect200 = http.expectedStatuses(200)
const expect200or422 = http.expectedStatuses(200, 422)
const expect404 = http.expectedStatuses(404)
const expect400or422 = http.expectedStatuses(400, 422)

const randomInt = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1))
const randomCliente = () => randomInt(1, 5)
const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
const randomDescricao = () => {
  let text = ""
  for (let i = 0; i < 10; i++) text += alphabet[randomInt(0, alphabet.length - 1)]
  return text
}

/** A consistency rule: false counts as an inconsistency, and as a failed check. */
const consistent = (name: string, ok: boolean) => {
  check(null, { [name]: () => ok })
  if (!ok) inconsistencias.add(1, { rule: name })
  return ok
}

/** The contest's "good": the expected status within 250 ms. */
const record = <RT extends ResponseType | undefined>(
  response: RefinedResponse<RT>,
  expected: ReadonlyArray<number>
) => {
  bons.add(expected.includes(response.status) && response.timings.duration < 250)
  return response
}

const transacao = (id: number, valor: number, tipo: "c" | "d", descricao: string) =>
  record(
    http.post(`${baseUrl}/clientes/${id}/transacoes`, JSON.stringify({ valor, tipo, descricao }), {
      ...json,
      responseCallback: tipo === "d" ? expect200or422 : expect200,
      tags: { name: `POST /clientes/{id}/transacoes (${tipo})` }
    }),
    tipo === "d" ? [200, 422] : [200]
  )

const extrato = (id: number) =>
  record(
    http.get(`${baseUrl}/clientes/${id}/extrato`, {
      responseCallback: id === 6 ? expect404 : expect200,
      tags: { name: "GET /clientes/{id}/extrato" }
    }),
    id === 6 ? [404] : [200]
  )

type Answer = RefinedResponse<ResponseType | undefined> | undefined

/** The body of a 200, or nothing to check. */
const bodyOf = <T>(response: Answer): T | undefined =>
  response?.status === 200 ? (response.json() as unknown as T) : undefined

/** Checks an accepted transaction's answer against the client's limit. */
const checkSaldo = (id: number, response: Answer): SaldoAtual | undefined => {
  const body = bodyOf<SaldoAtual>(response)
  if (body === undefined) return undefined
  consistent("limite is the client's", body.limite === limites[id])
  consistent("saldo >= -limite", body.saldo >= -body.limite)
  return body
}

const checkExtrato = (id: number, response: Answer): Extrato | undefined => {
  const body = bodyOf<Extrato>(response)
  if (body === undefined) return undefined
  consistent("statement limite is the client's", body.saldo.limite === limites[id])
  consistent("statement total >= -limite", body.saldo.total >= -body.saldo.limite)
  consistent("at most 10 transactions", body.ultimas_transacoes.length <= 10)
  return body
}

/** Step 1: 25 simultaneous debits of 1 on client 1, then 25 credits. */
function validacaoConcorrencia() {
  for (const [tipo, esperado] of [
    ["d", -25],
    ["c", 0]
  ] as const) {
    const requests = Array.from({ length: 25 }, () => ({
      method: "POST",
      url: `${baseUrl}/clientes/1/transacoes`,
      body: JSON.stringify({ valor: 1, tipo, descricao: "validacao" }),
      params: { ...json, responseCallback: expect200, tags: { name: "validacao concorrente" } }
    }))
    for (const response of http.batch(requests))
      check(response, { "concurrent transaction 200": (r) => r.status === 200 })
    const body = checkExtrato(1, extrato(1))
    consistent(`total ${esperado} after 25 concurrent ${tipo}`, body?.saldo.total === esperado)
  }
}

/** A GET or POST for http.batch, tagged like the single requests. */
const batchGet = (id: number): ObjectBatchRequest => ({
  method: "GET",
  url: `${baseUrl}/clientes/${id}/extrato`,
  params: { responseCallback: expect200, tags: { name: "GET /clientes/{id}/extrato" } }
})
const batchPost = (id: number, payload: unknown, tipo: string): ObjectBatchRequest => ({
  method: "POST",
  url: `${baseUrl}/clientes/${id}/transacoes`,
  body: JSON.stringify(payload),
  params: {
    ...json,
    responseCallback: tipo === "invalid" ? expect400or422 : expect200,
    tags: { name: `POST /clientes/{id}/transacoes (${tipo})` }
  }
})

const clientes = [1, 2, 3, 4, 5]

/**
 * Step 2, every client at once (each step is one batch across the five
 * clients): the statement follows every answer exactly.
 */
function validacaoClientes() {
  const step = (requests: Array<ObjectBatchRequest>): Array<RefinedResponse<ResponseType | undefined>> =>
    http.batch(requests)
  const inicial = step(clientes.map(batchGet))
  clientes.forEach((id, i) => {
    consistent("initial total 0", checkExtrato(id, inicial[i])?.saldo.total === 0)
  })
  step(clientes.map((id) => batchPost(id, { valor: 1, tipo: "c", descricao: "toma" }, "c")))
  step(clientes.map((id) => batchPost(id, { valor: 1, tipo: "d", descricao: "devolve" }, "d")))
  const depois = step(clientes.map(batchGet))
  clientes.forEach((id, i) => {
    const body = checkExtrato(id, depois[i])
    consistent(
      "statement lists devolve then toma",
      body?.ultimas_transacoes[0]?.descricao === "devolve" && body.ultimas_transacoes[1]?.descricao === "toma"
    )
  })
  const danadas = step(clientes.map((id) => batchPost(id, { valor: 1, tipo: "c", descricao: "danada" }, "c")))
  const leituras = step(clientes.flatMap((id) => [id, id, id, id].map(batchGet)))
  clientes.forEach((id, i) => {
    const danada = checkSaldo(id, danadas[i])
    for (const leitura of leituras.slice(4 * i, 4 * i + 4)) {
      const body = checkExtrato(id, leitura)
      consistent(
        "concurrent statements show the last transaction and its saldo",
        body?.ultimas_transacoes[0]?.descricao === "danada" && body.saldo.total === danada?.saldo
      )
    }
  })
  for (const response of step(
    clientes.flatMap((id) => invalidPayloads.map((payload) => batchPost(id, payload, "invalid")))
  )) {
    record(response, [400, 422])
    check(response, { "invalid payload 400/422": (r) => r.status === 400 || r.status === 422 })
  }
  check(extrato(6), { "client 6 is 404": (r) => r.status === 404 })
}

/**
 * The contest's validations run in k6's setup(): before any load scenario
 * starts, whatever their duration, as the contest runs them first.
 */
export function setup() {
  if (profile === "contest" || profile === "smoke") {
    validacaoConcorrencia()
    validacaoClientes()
  }
}

export function debito() {
  const id = randomCliente()
  const response = transacao(id, randomInt(1, 10000), "d", randomDescricao())
  check(response, { "debit 200 or 422": (r) => r.status === 200 || r.status === 422 })
  checkSaldo(id, response)
}

export function credito() {
  const id = randomCliente()
  const response = transacao(id, randomInt(1, 10000), "c", randomDescricao())
  check(response, { "credit 200": (r) => r.status === 200 })
  checkSaldo(id, response)
}

export function extratos() {
  const id = randomCliente()
  const response = extrato(id)
  check(response, { "statement 200": (r) => r.status === 200 })
  checkExtrato(id, response)
}

/** The contest's mix, for the closed-model stress profile (22:11:1). */
export function mix() {
  const draw = Math.random() * 34
  if (draw < 22) debito()
  else if (draw < 33) credito()
  else extratos()
}

// --- profiles ---------------------------------------------------------------

/** The open model: arrivals ramp regardless of answers. */
const openModel = (scale: number, ramp: string, steady: string): Record<string, Scenario> => {
  const arrivals = (exec: string, rate: number): Scenario => ({
    executor: "ramping-arrival-rate",
    exec,
    startRate: 1,
    timeUnit: "1s",
    preAllocatedVUs: Math.max(5, Math.ceil(rate * scale * 0.2)),
    maxVUs: Math.max(50, Math.ceil(rate * scale * 2)),
    stages: [
      { target: Math.max(1, Math.round(rate * scale)), duration: ramp },
      { target: Math.max(1, Math.round(rate * scale)), duration: steady }
    ]
  })
  return { debitos: arrivals("debito", 220), creditos: arrivals("credito", 110), extratos: arrivals("extratos", 10) }
}

const scenarios: Record<string, Record<string, Scenario>> = {
  contest: openModel(1, "2m", "2m"),
  smoke: openModel(0.1, "10s", "20s"),
  steady: openModel(1, "1s", __ENV.DURATION ?? "60s"),
  stress: {
    saturacao: {
      executor: "constant-vus",
      exec: "mix",
      vus: Number(__ENV.VUS ?? 300),
      duration: __ENV.DURATION ?? "60s"
    }
  }
}

const chosen = scenarios[profile]
if (chosen === undefined) fail(`unknown PROFILE ${profile}: contest, smoke or stress`)

export const options: Options = {
  scenarios: chosen,
  // Step 1 needs its 25 requests really in flight together.
  batch: 25,
  batchPerHost: 25,
  discardResponseBodies: false,
  summaryTrendStats: ["min", "avg", "p(50)", "p(75)", "p(95)", "p(99)", "max", "count"],
  thresholds: {
    // One sub-metric per scenario, so the summary has every scenario's latencies.
    ...Object.fromEntries(Object.keys(chosen ?? {}).map((name) => [`http_req_duration{scenario:${name}}`, ["max>=0"]])),
    inconsistencias: ["count==0"],
    http_req_failed: profile === "stress" ? ["rate<0.01"] : ["rate==0"],
    checks: profile === "stress" ? ["rate>0.99"] : ["rate==1"]
  }
}
