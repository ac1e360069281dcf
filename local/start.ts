/**
 * `npm start`: the whole Crébitos service on one machine with nothing but
 * Node installed. PostgreSQL is embedded unless DATABASE_URL names one, and
 * supervised: if it dies it is started again on the same data (the API
 * processes reconnect by themselves), and if it keeps dying `npm start`
 * exits non-zero saying why. Two API processes share the port round robin;
 * Ctrl-C stops everything, the database last.
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

/** The database: the one named, watched by whoever runs it; or an embedded one, watched here. */
const database = (config: Config.Success<typeof StartConfig>) =>
  Option.match(config.databaseUrl, {
    onSome: (url) => Effect.succeed({ url, watch: Effect.never }),
    onNone: () =>
      EmbeddedPostgres.supervise({ dataDir: config.dataDir, port: Option.none() }).pipe(
        Effect.tap((pg) =>
          Effect.log(
            `PostgreSQL (embedded) on 127.0.0.1:${pg.port}, data in ${pg.dataDir}${Option.isSome(config.dataDir) ? "" : " (fresh, removed on exit)"}`
          )
        )
      )
  })

const program = Effect.gen(function* () {
  const config = yield* StartConfig
  const db = yield* database(config)
  const pids = yield* runWorkers({
    entry: fileURLToPath(new URL("../src/Crebitos/main.ts", import.meta.url)),
    count: config.workers,
    env: { PORT: String(config.port), DATABASE_URL: Redacted.value(db.url), LOG_FORMAT: "pretty" }
  })
  yield* Effect.log(
    `Crébitos listening on http://localhost:${config.port} (workers ${pids.join(", ")}); Ctrl-C to stop`
  )
  return yield* db.watch
})

program.pipe(Effect.scoped, NodeRuntime.runMain)
