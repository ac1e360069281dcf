import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as HttpApiError from "effect/http-api/HttpApiError"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { portConfig } from "../Platform/Config.ts"
import { NotUtf8Response } from "../Platform/RequestBody.ts"
import { runMain, serveApi } from "../Platform/Server.ts"
import { MalformedRequestLive, ProcessorSimApi } from "./Api.ts"
import { AdminAuthorizationLive, ProcessorSimHttp } from "./Http.ts"
import { Processor } from "./Processor.ts"

/** The contest's processors listen on 8080. */
const SimulatorPort = portConfig(8080)

/**
 * One Payment Processor over HTTP, with its OpenAPI document at
 * `/openapi.json` and a reference page at `/docs`. Its HttpServer stays in
 * the output so callers can read the bound address.
 */
export const ProcessorSimServer = serveApi(ProcessorSimApi, ProcessorSimHttp, SimulatorPort).pipe(
  Layer.provide([AdminAuthorizationLive, MalformedRequestLive]),
  Layer.provide(
    Layer.succeed(
      NotUtf8Response,
      HttpServerResponse.jsonUnsafe(Schema.encodeSync(HttpApiError.BadRequest)(new HttpApiError.BadRequest()), {
        status: 400
      })
    )
  ),
  Layer.provide(Processor.layer)
)

if (import.meta.main) runMain(ProcessorSimServer)
