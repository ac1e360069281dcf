import * as Effect from "effect/Effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpServer from "effect/http/HttpServer"
import * as HttpApiClient from "effect/http-api/HttpApiClient"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import { Api } from "../../src/Crebitos/Api.ts"
import { Extrato } from "../../src/Crebitos/Domain.ts"
import { CrebitosServer } from "../../src/Crebitos/main.ts"
import { PgLive } from "../../src/Platform/Sql.ts"
import { layerFreshConfig } from "./Database.ts"

/**
 * The real Crébitos server on an ephemeral port over a fresh database, an
 * HttpClient aimed at it, and a SqlClient on the same database for checks;
 * `env` sets the server's configuration.
 */
export const crebitosTest = (env: Readonly<Record<string, string>> = {}) =>
  Layer.mergeAll(
    HttpServer.layerTestClient.pipe(Layer.provide(FetchHttpClient.layer), Layer.provideMerge(CrebitosServer)),
    PgLive
  ).pipe(Layer.provide(layerFreshConfig(env)))

export const CrebitosTest = crebitosTest()

/** The typed client of the API, as a user of the contract would write it. */
export const client = HttpApiClient.make(Api)

/** Sends a body as-is, for requests the typed client refuses to encode. */
export const postRaw = (path: string, body: string) =>
  Effect.gen(function* () {
    const http = yield* HttpClient.HttpClient
    const response = yield* http.execute(
      HttpClientRequest.post(path).pipe(HttpClientRequest.bodyText(body, "application/json"))
    )
    return { status: response.status, body: yield* response.text }
  }).pipe(Effect.orDie)

/** A statement read through HTTP and checked against the contract's schema. */
export const extrato = (id: number) =>
  Effect.gen(function* () {
    const http = yield* HttpClient.HttpClient
    const response = yield* http.get(`/clientes/${id}/extrato`)
    return { status: response.status, body: yield* response.json }
  }).pipe(Effect.orDie)

export const decodeExtrato = Schema.decodeUnknownSync(Extrato)

/** Every balance and transaction count, straight from the database. */
export const ledgerState = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  return yield* sql<{ id: number; saldo: number; limite: number; transacoes: number }>`
    SELECT c.id, c.saldo, c.limite, (SELECT count(*)::int FROM transacoes t WHERE t.cliente_id = c.id) AS transacoes
      FROM clientes c ORDER BY c.id`
}).pipe(Effect.orDie)
