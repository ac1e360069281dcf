import { randomUUID } from "node:crypto"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
import { inject } from "vitest"

const serverUrl = () => new URL(inject("postgresUrl"))

const onServer = (statement: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(statement)
  }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(serverUrl().href) })), Effect.orDie)

/** An empty database of its own on the shared server, dropped when the scope closes. */
export const freshDatabase = Effect.acquireRelease(
  Effect.gen(function* () {
    const name = `test_${randomUUID().replaceAll("-", "")}`
    yield* onServer(`CREATE DATABASE ${name}`)
    const url = serverUrl()
    url.pathname = `/${name}`
    return { name, url: url.href }
  }),
  ({ name }) => onServer(`DROP DATABASE ${name} WITH (FORCE)`)
)

/**
 * The environment a service process would get, pointing at a fresh database
 * and an ephemeral port, plus `env`: what the real configuration code reads in tests.
 */
export const layerFreshConfig = (env: Readonly<Record<string, string>> = {}) =>
  Layer.unwrap(
    Effect.map(freshDatabase, ({ url }) =>
      ConfigProvider.layer(ConfigProvider.fromEnv({ env: { DATABASE_URL: url, PORT: "0", ...env } }))
    )
  )
