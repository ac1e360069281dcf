import { isMainThread } from "node:worker_threads"
import * as Layer from "effect/Layer"
import { runMain, serveService } from "../Platform/Server.ts"
import { Api } from "./Api.ts"
import { PaymentsLive, warmupRequests } from "./Http.ts"
import { Intake } from "./Intake.ts"
import { Ledger } from "./Ledger.ts"

/**
 * One Payments API process: database ready and the dispatch thread started
 * (undispatched payments taken back) first, then the port opens, then it
 * warms up and reports healthy. On shutdown the server stops first, then the
 * dispatch thread drains and keeps what it could not send, then the pool closes.
 */
export const PaymentsServer = serveService({
  api: Api,
  handlers: PaymentsLive,
  services: Intake.layer.pipe(Layer.provideMerge(Ledger.layer)),
  sql: "payments",
  warmup: warmupRequests
})

// With DISPATCH_WORKER the bundle is also the dispatch thread's entry (Intake.ts), where import.meta.main holds too.
if (import.meta.main && isMainThread) runMain(PaymentsServer)
