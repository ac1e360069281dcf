/**
 * The floor of the Crébitos contest on this machine (`--floor`): the same
 * work as an API instance with the least code around it — `node:http` and
 * `pg` calling the same stored procedures (sql/crebitos) under the same
 * caps, pool size and nginx. What the contest measures against it is what
 * the request itself costs here; the difference to this project's API is
 * what Effect's HttpApi, Schema and SqlClient add
 * (docs/crebitos-efficiency.md, "Against the floor, in one sitting").
 * Validation is the contract's, without this project's finer points (a
 * strict payload, NUL and lone surrogates in `descricao`).
 */

import { createServer, type ServerResponse } from "node:http"
import pg from "pg"

const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.DB_POOL_SIZE ?? 4)
})

const transacoes = /^\/clientes\/([1-9][0-9]{0,9})\/transacoes$/
const extrato = /^\/clientes\/([1-9][0-9]{0,9})\/extrato$/

interface Transacao {
  readonly valor: number
  readonly tipo: "c" | "d"
  readonly descricao: string
}

const parsed = (body: string): unknown => {
  try {
    return JSON.parse(body)
  } catch {
    return undefined
  }
}

const transacaoOf = (body: string): Transacao | undefined => {
  const value = parsed(body)
  if (typeof value !== "object" || value === null) return undefined
  const { valor, tipo, descricao } = value as Record<string, unknown>
  const ok =
    typeof valor === "number" &&
    Number.isInteger(valor) &&
    valor > 0 &&
    valor <= 2_147_483_647 &&
    (tipo === "c" || tipo === "d") &&
    typeof descricao === "string" &&
    descricao.length > 0 &&
    [...descricao].length <= 10
  return ok ? { valor, tipo, descricao } : undefined
}

interface Registro {
  readonly resultado: "ok" | "limite_excedido" | "cliente_inexistente"
  readonly saldo: number
  readonly limite: number
}

interface LinhaExtrato {
  readonly total: number
  readonly limite: number
  readonly data_extrato: string
  readonly ultimas_transacoes: ReadonlyArray<unknown>
}

const json = (response: ServerResponse, status: number, body: unknown) =>
  response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body))

const registrar = async (response: ServerResponse, id: number, body: string) => {
  const transacao = transacaoOf(body)
  if (transacao === undefined) return response.writeHead(422).end()
  const { rows } = await pool.query<Registro>({
    name: "registrar_transacao",
    text: "SELECT * FROM registrar_transacao($1, $2, $3, $4)",
    values: [id, transacao.valor, transacao.tipo, transacao.descricao]
  })
  const [row] = rows
  if (row?.resultado === "ok") return json(response, 200, { limite: row.limite, saldo: row.saldo })
  response.writeHead(row?.resultado === "limite_excedido" ? 422 : 404).end()
}

const consultar = async (response: ServerResponse, id: number) => {
  const { rows } = await pool.query<LinhaExtrato>({ name: "extrato", text: "SELECT * FROM extrato($1)", values: [id] })
  const [row] = rows
  if (row === undefined) return response.writeHead(404).end()
  json(response, 200, {
    saldo: { total: row.total, data_extrato: row.data_extrato, limite: row.limite },
    ultimas_transacoes: row.ultimas_transacoes
  })
}

const server = createServer((request, response) => {
  const chunks: Array<Buffer> = []
  request.on("data", (chunk: Buffer) => chunks.push(chunk))
  request.on("end", () => {
    const path = request.url ?? ""
    const posted = request.method === "POST" ? transacoes.exec(path) : null
    const asked = request.method === "GET" ? extrato.exec(path) : null
    const answer = posted
      ? registrar(response, Number(posted[1]), Buffer.concat(chunks).toString("utf8"))
      : asked
        ? consultar(response, Number(asked[1]))
        : Promise.resolve(void response.writeHead(request.url === "/healthz" ? 200 : 404).end())
    answer.catch((error: unknown) => {
      console.error(error)
      if (!response.headersSent) response.writeHead(503).end()
    })
  })
})

// The APIs' keep-alive: nginx reuses its upstream connections for 30 s.
server.keepAliveTimeout = 65_000
server.listen(Number(process.env.PORT ?? 8080), () => console.log(`Listening on ${process.env.PORT ?? 8080}`))
// Nothing to finish: a stub of the contest, not a service.
process.on("SIGTERM", () => process.exit(0))
