import { runMain, serveService } from "../Platform/Server.ts"
import { Api } from "./Api.ts"
import { ClientesLive, warmupRequests } from "./Http.ts"
import { Ledger } from "./Ledger.ts"

/** One Crébitos API process: what a container runs. */
export const CrebitosServer = serveService({
  api: Api,
  handlers: ClientesLive,
  services: Ledger.layer,
  sql: "crebitos",
  warmup: warmupRequests
})

if (import.meta.main) runMain(CrebitosServer)
