import * as Layer from "effect/Layer"
import { runMain, serveService } from "../Platform/Server.ts"
import { Api } from "./Api.ts"
import { Dispatcher } from "./Dispatcher.ts"
import { PaymentsLive, warmupRequests } from "./Http.ts"
import { Processors } from "./Processors.ts"
import { Router } from "./Router.ts"
import { Store } from "./Store.ts"

const Dispatching = Dispatcher.layer.pipe(
  Layer.provide(Router.layer),
  Layer.provideMerge(Processors.layer),
  Layer.provideMerge(Store.layer)
)

/**
 * One Payments API process: database ready and undispatched payments taken
 * back first, then the port opens, then it warms up and reports healthy. On
 * shutdown the server stops first, then the dispatcher keeps what it could
 * not send, then the pool closes.
 */
export const PaymentsServer = serveService({
  api: Api,
  handlers: PaymentsLive,
  services: Dispatching,
  sql: "payments",
  warmup: warmupRequests
})

if (import.meta.main) runMain(PaymentsServer)
