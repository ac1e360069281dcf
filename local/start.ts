/**
 * `npm start`: the whole Crébitos service on one machine with nothing but
 * Node installed. PostgreSQL is embedded unless DATABASE_URL names one; two
 * API processes share the port round robin; Ctrl-C stops everything, the
 * database last.
 */

import { fileURLToPath } from "node:url"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { HttpPort } from "../src/Platform/Config.ts"
import * as EmbeddedPostgres from "./EmbeddedPostgres.ts"
import { runWorkers } from "./Workers.ts"

const StartConfig = Config.all({
  port: HttpPort,
  databaseUrl: Config.option(Config.Redacted("DATABASE_URL")),
  dataDir: Config.option(Config.NonEmptyString("DATA_DIR")),
  workers: Config.Int("WORKERS").pipe(Config.withDefault(2))
})

const program = Effect.gen(function* () {
  const config = yield* StartConfig
  const databaseUrl = yield* Option.match(config.databaseUrl, {
    onSome: Effect.succeed,
    onNone: () =>
      EmbeddedPostgres.start({ dataDir: config.dataDir, port: Option.none() }).pipe(
        Effect.tap((pg) =>
          Effect.log(
            `PostgreSQL (embedded) on 127.0.0.1:${pg.port}, data in ${pg.dataDir}${Option.isSome(config.dataDir) ? "" : " (fresh, removed on exit)"}`
          )
        ),
        Effect.map((pg) => pg.url)
      )
  })
  const pids = yield* runWorkers({
    entry: fileURLToPath(new URL("../src/Crebitos/main.ts", import.meta.url)),
    count: config.workers,
    env: { PORT: String(config.port), DATABASE_URL: Redacted.value(databaseUrl) }
  })
  yield* Effect.log(
    `Crébitos listening on http://localhost:${config.port} (workers ${pids.join(", ")}); Ctrl-C to stop`
  )
  return yield* Effect.never
})

program.pipe(Effect.scoped, NodeRuntime.runMain)
