import { fileURLToPath } from "node:url"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Config from "effect/Config"
import * as Layer from "effect/Layer"
import { serveApi } from "../Platform/Server.ts"
import { layerApplySql, PgLive } from "../Platform/Sql.ts"
import { RequestValidationLive } from "../Platform/Validation.ts"
import { layerWarmup, Readiness, type WarmupRequest } from "../Platform/Warmup.ts"
import { Api } from "./Api.ts"
import { Dispatcher } from "./Dispatcher.ts"
import { PaymentsHttp } from "./Http.ts"
import { Processors } from "./Processors.ts"
import { Router } from "./Router.ts"
import { Store } from "./Store.ts"

/** The SQL of this service; SQL_DIR points elsewhere in the container. */
const SqlFolder = Config.String("SQL_DIR").pipe(
  Config.withDefault(fileURLToPath(new URL("../../sql/payments", import.meta.url)))
)

/**
 * Warm-up traffic that changes nothing: summaries, and payments refused by
 * validation (a valid one would be dispatched for real).
 */
const warmupRequests: ReadonlyArray<WarmupRequest> = [
  { method: "GET", path: "/payments-summary" },
  {
    method: "GET",
    path: "/payments-summary?from=2000-01-01T00:00:00.000Z&to=2000-01-01T00:00:01.000Z"
  },
  { method: "POST", path: "/payments", body: JSON.stringify({ correlationId: "warm-up", amount: 19.9 }) },
  {
    method: "POST",
    path: "/payments",
    body: JSON.stringify({ correlationId: "4a7901b8-7d26-4d9d-aa19-4dc1c7cf60b3", amount: 0 })
  }
]

const Dispatching = Dispatcher.layer.pipe(
  Layer.provide(Router.layer),
  Layer.provideMerge(Processors.layer),
  Layer.provideMerge(Store.layer)
)

/**
 * One API process: database ready and undispatched payments taken back
 * first, then the port opens, then it warms up and reports healthy. On
 * shutdown the server stops first, then the dispatcher keeps what it could
 * not send, then the pool closes.
 */
export const PaymentsServer = layerWarmup(warmupRequests).pipe(
  Layer.provideMerge(serveApi(Api, PaymentsHttp)),
  Layer.provide([Dispatching, RequestValidationLive, Readiness.layer]),
  Layer.provide(layerApplySql(SqlFolder).pipe(Layer.provideMerge(PgLive)))
)

if (import.meta.main) {
  Layer.launch(PaymentsServer).pipe(NodeRuntime.runMain)
}
