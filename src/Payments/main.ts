import * as Layer from "effect/Layer"
import { runMain, serveService } from "../Platform/Server.ts"
import { Api } from "./Api.ts"
import { Dispatcher } from "./Dispatcher.ts"
import { ProcessorHealth } from "./Health.ts"
import { HealthReports } from "./HealthReports.ts"
import { PaymentsLive, warmupRequests } from "./Http.ts"
import { Journal } from "./Journal.ts"
import { Ledger } from "./Ledger.ts"
import { Processors } from "./Processors.ts"

/** Accepted payments in, records out: everything that sends payments to the processors. */
const Dispatching = Dispatcher.layer.pipe(
  Layer.provide(ProcessorHealth.layer.pipe(Layer.provide(HealthReports.layer))),
  Layer.provide([Processors.layer, Journal.layer]),
  Layer.provideMerge(Ledger.layer)
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
