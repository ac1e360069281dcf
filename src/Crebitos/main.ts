import { fileURLToPath } from "node:url"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Config from "effect/Config"
import * as Layer from "effect/Layer"
import { serveApi } from "../Platform/Server.ts"
import { layerApplySql, PgLive } from "../Platform/Sql.ts"
import { RequestValidationLive } from "../Platform/Validation.ts"
import { Api } from "./Api.ts"
import { CrebitosHttp } from "./Http.ts"
import { Ledger } from "./Ledger.ts"

/**
 * The SQL of this service: tables, seed and stored procedures. SQL_DIR points
 * elsewhere where the code does not sit beside the sources (the container's bundle).
 */
const SqlFolder = Config.String("SQL_DIR").pipe(
  Config.withDefault(fileURLToPath(new URL("../../sql/crebitos", import.meta.url)))
)

/** One API process: database ready first, then the port opens. */
export const CrebitosServer = serveApi(Api, CrebitosHttp).pipe(
  Layer.provide([Ledger.layer, RequestValidationLive]),
  Layer.provide(layerApplySql(SqlFolder).pipe(Layer.provideMerge(PgLive)))
)

if (import.meta.main) {
  Layer.launch(CrebitosServer).pipe(NodeRuntime.runMain)
}
