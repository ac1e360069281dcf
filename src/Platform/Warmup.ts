import { Agent, request } from "node:http"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpServer from "effect/http/HttpServer"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"

/**
 * Whether the process is ready for traffic. `/healthz` answers 503 until it
 * is, so neither the load balancer (compose's `service_healthy`) nor the
 * contest's first burst meets a cold JIT.
 */
export class Readiness extends Context.Service<Readiness, { readonly ready: Ref.Ref<boolean> }>()(
  "Platform/Readiness"
) {
  static readonly layer = Layer.effect(
    this,
    Effect.map(Ref.make(false), (ready) => ({ ready }))
  )
}

export interface WarmupRequest {
  readonly method: "GET" | "POST"
  readonly path: string
  readonly body?: string
}

/** How many requests the warm-up sends; 0 skips it. */
const WarmupRequests = Config.Int("WARMUP_REQUESTS").pipe(Config.withDefault(600))

// Plain node:http, already loaded for the server: no HTTP client library in
// memory for a job done once.
const send = (port: number, agent: Agent, { body, method, path }: WarmupRequest) =>
  new Promise<void>((resolve) => {
    const outgoing = request(
      {
        host: "127.0.0.1",
        port,
        method,
        path,
        agent,
        headers: body === undefined ? {} : { "content-type": "application/json" }
      },
      (response) => response.resume().once("end", resolve)
    )
    outgoing.once("error", () => resolve())
    outgoing.end(body)
  })

/**
 * Once the server listens, sends it `requests` (round robin, 4 at a time)
 * through the real HTTP path so the hot code is compiled, then marks the
 * process ready. The requests must change nothing.
 */
export const layerWarmup = (requests: ReadonlyArray<WarmupRequest>) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const server = yield* HttpServer.HttpServer
      const { ready } = yield* Readiness
      const total = yield* WarmupRequests
      if (server.address._tag !== "UnixPathAddress" && total > 0 && requests.length > 0) {
        const port = server.address.port
        yield* Effect.promise(async () => {
          const agent = new Agent({ keepAlive: true, maxSockets: 4 })
          let next = 0
          const worker = async () => {
            while (next < total) {
              const warmup = requests[next++ % requests.length]
              if (warmup !== undefined) await send(port, agent, warmup)
            }
          }
          await Promise.all([worker(), worker(), worker(), worker()])
          agent.destroy()
        })
      }
      yield* Ref.set(ready, true)
    })
  )
