import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as ByteSize from "effect/ByteSize"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FindMyWay from "effect/http/FindMyWay"
import * as HttpIncomingMessage from "effect/http/HttpIncomingMessage"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as HttpApi from "effect/http-api/HttpApi"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import type * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import * as HttpApiScalar from "effect/http-api/HttpApiScalar"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { HttpPort, MaxBodyBytes } from "./Config.ts"
import { HealthLive } from "./Health.ts"
import { PlatformServer } from "./NodeServer.ts"
import { layerMetricRegistry, layerObservability } from "./Observability.ts"
import { guardRequestBody, NotUtf8Response } from "./RequestBody.ts"
import { makeAnswerObserver } from "./ServerErrors.ts"
import { layerSchema, PgLive, sqlFolderOf } from "./Sql.ts"
import { RequestValidationLive } from "./Validation.ts"
import { layerWarmup, Readiness, type WarmupRequest } from "./Warmup.ts"

/**
 * How long shutdown waits for in-flight requests after it stops accepting
 * connections; under Docker's default 10 s grace period.
 */
const ShutdownTimeout = Config.Duration("SHUTDOWN_TIMEOUT").pipe(Config.withDefault("8 seconds"))

const openApiPath = "/openapi.json"
const docsPath = "/docs"

/** Every method and path an API serves, with the two documentation pages. */
const routesOf = <Id extends string, Groups extends HttpApiGroup.Constraint>(api: HttpApi.HttpApi<Id, Groups>) => {
  const routes = FindMyWay.make<true>()
  routes.on("GET", openApiPath, true)
  routes.on("GET", docsPath, true)
  HttpApi.reflect(api, {
    onGroup: () => undefined,
    onEndpoint: ({ endpoint }) => routes.on(endpoint.method, endpoint.path as FindMyWay.PathInput, true)
  })
  return routes
}

const methods = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const

/**
 * 405 with `Allow` for a path the API serves under other methods (HEAD goes
 * with GET, as the router does); an unknown path falls through to the router's 404.
 */
const allowMethods =
  (routes: FindMyWay.Router<true>) =>
  <E, R>(app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
    Effect.withFiber<HttpServerResponse.HttpServerResponse, E, R>((fiber) => {
      const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
      const method = request.method === "HEAD" ? "GET" : request.method
      const serves = (candidate: string) => routes.find(candidate, request.url) !== undefined
      if (serves(method)) return app
      const allowed = methods.filter(serves)
      if (allowed.length === 0) return app
      const allow = allowed.includes("GET") ? [...allowed, "HEAD"] : allowed
      return Effect.succeed(HttpServerResponse.empty({ status: 405, headers: { allow: allow.join(", ") } }))
    })

/**
 * What every server of the platform does before and around its routes:
 * 405 for a known path under another method, the request-body limits,
 * every 5XX logged with its cause, and every answer timed when metrics are
 * on. Installed as router middleware, so a request still takes the server's
 * single-frame path.
 */
const layerPlatformMiddleware = (routes: FindMyWay.Router<true>) =>
  HttpRouter.middleware(
    Effect.gen(function* () {
      const guard = guardRequestBody(yield* MaxBodyBytes, yield* NotUtf8Response)
      const observeAnswers = yield* makeAnswerObserver
      return (app) => observeAnswers(allowMethods(routes)(guard(app)))
    }),
    { global: true }
  )

/**
 * Serves an HttpApi over Node's HTTP server: the API, its OpenAPI document at
 * `/openapi.json` and a reference page at `/docs`.
 *
 * The per-request logger is off: it costs about a fifth of the throughput.
 * So is span recording, unless traces are exported (see Observability.ts):
 * every request would otherwise build spans for the router, the handler and
 * each `Effect.fn`. Metrics, when on, leave through a port of their own.
 * On SIGINT/SIGTERM the server stops accepting, lets in-flight requests
 * finish, and only then are the layers it was given (the database pool)
 * released.
 *
 * Provide the services the handlers need around the result, not inside
 * `handlers`: they are then built before the port opens, so no connection can
 * arrive while the database is not ready.
 */
const serveRoutes = <Id extends string, Groups extends HttpApiGroup.Constraint, E, R>(
  api: HttpApi.HttpApi<Id, Groups>,
  handlers: Layer.Layer<HttpApiGroup.ToService<Id, Groups>, E, R>,
  port: Config.Config<number> = HttpPort
) =>
  HttpRouter.serve(
    Layer.mergeAll(
      HttpApiBuilder.layer(api, { openapiPath: openApiPath }),
      HttpApiScalar.layerCdn(api, { path: docsPath }),
      layerPlatformMiddleware(routesOf(api))
    ).pipe(Layer.provide(handlers)),
    { disableLogger: true }
  ).pipe(
    Layer.provide(
      Layer.effect(
        HttpIncomingMessage.MaxBodySize,
        Effect.map(MaxBodyBytes, (max) => ByteSize.bytes(max))
      )
    ),
    // Merged, not hidden: callers (tests, the start-up log) read its address.
    Layer.provideMerge(
      NodeHttpServer.layerConfig(
        // A proxy in front (nginx) reuses idle connections for up to 60 s. If
        // Node closed them first (its default is 5 s), a request sent on a
        // connection just being closed fails with 502 — measured once in
        // 61,500 requests. So Node keeps them longer than any proxy does.
        () => new PlatformServer({ keepAliveTimeout: 65_000, headersTimeout: 66_000 }),
        { port, gracefulShutdownTimeout: ShutdownTimeout }
      )
    )
  )

/** `serveRoutes`, with the server's metrics and traces (see Observability.ts). */
export const serveApi = <Id extends string, Groups extends HttpApiGroup.Constraint, E, R>(
  api: HttpApi.HttpApi<Id, Groups>,
  handlers: Layer.Layer<HttpApiGroup.ToService<Id, Groups>, E, R>,
  port: Config.Config<number> = HttpPort
) => serveRoutes(api, handlers, port).pipe(observed(api.identifier))

/** Metrics and traces around everything a server builds, with its own metric registry (merged: tests read it). */
const observed =
  (service: string) =>
  <A, E, R>(server: Layer.Layer<A, E, R>) =>
    server.pipe(Layer.provide(layerObservability(service)), Layer.provideMerge(layerMetricRegistry))

export interface ServiceOptions<Id extends string, Groups extends HttpApiGroup.Constraint, E, R, S, ES, RS> {
  /** The service's API; it adds `HealthGroup`, whose handler the platform provides. */
  readonly api: HttpApi.HttpApi<Id, Groups>
  /** The handlers of every group but `health`. */
  readonly handlers: Layer.Layer<HttpApiGroup.ToService<Id, Exclude<Groups, { readonly identifier: "health" }>>, E, R>
  /** What the handlers need: the service's domain services, built on the database. */
  readonly services: Layer.Layer<S, ES, RS>
  /** The service's folder under sql/. */
  readonly sql: string
  /** Requests that change nothing, sent once listening so the JIT is warm before `/healthz` says 200. */
  readonly warmup: ReadonlyArray<WarmupRequest>
}

/**
 * One API process of a service on a database: schema applied and kept, then
 * the services built, then the port opened, then the warm-up, then healthy.
 */
export const serveService = <Id extends string, Groups extends HttpApiGroup.Constraint, E, R, S, ES, RS>(
  options: ServiceOptions<Id, Groups, E, R, S, ES, RS>
) =>
  layerWarmup(options.warmup).pipe(
    Layer.provideMerge(serveRoutes(options.api, Layer.merge(options.handlers, HealthLive(options.api.identifier)))),
    Layer.provide([options.services, RequestValidationLive, Readiness.layer]),
    Layer.provide(layerSchema(sqlFolderOf(options.sql))),
    Layer.provideMerge(PgLive),
    observed(options.api.identifier)
  )

/** Structured logs (one JSON object per line) unless `LOG_FORMAT=pretty`. */
export const LoggerLive = Layer.unwrap(
  Effect.map(Config.Literals(["json", "pretty"], "LOG_FORMAT").pipe(Config.withDefault("json")), (format) =>
    Logger.layer([format === "json" ? Logger.consoleJson : Logger.consolePretty()])
  )
)

/** Runs a server layer as the process's main program, until SIGINT/SIGTERM. */
export const runMain = <ROut, E>(server: Layer.Layer<ROut, E>) =>
  Layer.launch(server).pipe(Effect.provide(LoggerLive), NodeRuntime.runMain)
