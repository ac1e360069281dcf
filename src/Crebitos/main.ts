import { fileURLToPath } from "node:url"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Layer from "effect/Layer"
import { serveApi } from "../Platform/Server.ts"
import { layerApplySql, PgLive } from "../Platform/Sql.ts"
import { RequestValidationLive } from "../Platform/Validation.ts"
import { Api } from "./Api.ts"
import { CrebitosHttp } from "./Http.ts"
import { Ledger } from "./Ledger.ts"

/** The SQL of this service: tables, seed and stored procedures. */
export const sqlFolder = fileURLToPath(new URL("../../sql/crebitos", import.meta.url))

/** One API process: database ready first, then the port opens. */
export const CrebitosServer = serveApi(Api, CrebitosHttp).pipe(
  Layer.provide([Ledger.layer, RequestValidationLive]),
  Layer.provide(layerApplySql(sqlFolder).pipe(Layer.provideMerge(PgLive)))
)

if (import.meta.main) {
  Layer.launch(CrebitosServer).pipe(NodeRuntime.runMain)
}
