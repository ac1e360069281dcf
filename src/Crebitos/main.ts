import { fileURLToPath } from "node:url"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Config from "effect/Config"
import * as Layer from "effect/Layer"
import { serveApi } from "../Platform/Server.ts"
import { layerApplySql, PgLive } from "../Platform/Sql.ts"
import { RequestValidationLive } from "../Platform/Validation.ts"
import { layerWarmup, Readiness, type WarmupRequest } from "../Platform/Warmup.ts"
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

const payload = (valor: number, tipo: string, descricao: string) => JSON.stringify({ valor, tipo, descricao })

/**
 * Warm-up traffic that changes nothing: statements, transactions for the
 * client that does not exist (the procedure runs, finds no row), and invalid
 * payloads.
 */
const warmupRequests: ReadonlyArray<WarmupRequest> = [
  ...[1, 2, 3, 4, 5].map((id) => ({ method: "GET", path: `/clientes/${id}/extrato` }) as const),
  { method: "POST", path: "/clientes/6/transacoes", body: payload(100, "d", "aquecendo") },
  { method: "POST", path: "/clientes/6/transacoes", body: payload(100, "c", "aquecendo") },
  { method: "POST", path: "/clientes/1/transacoes", body: payload(1.5, "d", "aquecendo") },
  { method: "POST", path: "/clientes/1/transacoes", body: payload(1, "x", "") },
  { method: "GET", path: "/clientes/6/extrato" }
]

/** One API process: database ready first, then the port opens, then it warms up and reports healthy. */
export const CrebitosServer = layerWarmup(warmupRequests).pipe(
  Layer.provideMerge(serveApi(Api, CrebitosHttp)),
  Layer.provide([Ledger.layer, RequestValidationLive, Readiness.layer]),
  Layer.provide(layerApplySql(SqlFolder).pipe(Layer.provideMerge(PgLive)))
)

if (import.meta.main) {
  Layer.launch(CrebitosServer).pipe(NodeRuntime.runMain)
}
