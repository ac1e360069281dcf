import { createServer } from "node:http"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Config from "effect/Config"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpApi from "effect/http-api/HttpApi"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import type * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import * as HttpApiScalar from "effect/http-api/HttpApiScalar"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import { HttpPort } from "./Config.ts"

/**
 * How long shutdown waits for in-flight requests after it stops accepting
 * connections; under Docker's default 10 s grace period.
 */
const ShutdownTimeout = Config.Duration("SHUTDOWN_TIMEOUT").pipe(Config.withDefault("8 seconds"))

/**
 * Serves an HttpApi over Node's HTTP server: the API, its OpenAPI document at
 * `/openapi.json` and a reference page at `/docs`.
 *
 * The per-request logger is off: it costs about a fifth of the throughput.
 * So is span recording: nothing exports traces, and every request would
 * otherwise build spans for the router, the handler and each `Effect.fn`.
 * On SIGINT/SIGTERM the server stops accepting, lets in-flight requests
 * finish, and only then are the layers it was given (the database pool)
 * released.
 *
 * Provide the services the handlers need around the result, not inside
 * `handlers`: they are then built before the port opens, so no connection can
 * arrive while the database is not ready.
 */
export const serveApi = <Id extends string, Groups extends HttpApiGroup.Constraint, E, R>(
  api: HttpApi.HttpApi<Id, Groups>,
  handlers: Layer.Layer<HttpApiGroup.ToService<Id, Groups>, E, R>,
  port: Config.Config<number> = HttpPort
) =>
  HttpRouter.serve(
    Layer.mergeAll(
      HttpApiBuilder.layer(api, { openapiPath: "/openapi.json" }),
      HttpApiScalar.layerCdn(api, { path: "/docs" })
    ).pipe(Layer.provide(handlers)),
    { disableLogger: true }
  ).pipe(
    Layer.provide(Layer.succeed(References.TracerEnabled)(false)),
    // Merged, not hidden: callers (tests, the start-up log) read its address.
    Layer.provideMerge(
      NodeHttpServer.layerConfig(
        // A proxy in front (nginx) reuses idle connections for up to 60 s. If
        // Node closed them first (its default is 5 s), a request sent on a
        // connection just being closed fails with 502 — measured once in
        // 61,500 requests. So Node keeps them longer than any proxy does.
        () => createServer({ keepAliveTimeout: 65_000, headersTimeout: 66_000 }),
        { port, gracefulShutdownTimeout: ShutdownTimeout }
      )
    )
  )
