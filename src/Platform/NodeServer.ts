/**
 * Node's HTTP server, with a shutdown that ends as soon as the last answer
 * is out.
 *
 * Node's `close` stops accepting and ends the connections idle at that
 * moment, once. A connection busy then (a request in flight) is kept alive
 * after its answer, and `close` waits for it until its keep-alive timeout:
 * 65 s here (Server.ts), so the whole grace period, with nothing left to do.
 * Node has no event for a connection turning idle, so this `close` ends idle
 * connections again every 50 ms until none is left. It is what Effect's
 * NodeHttpServer calls at shutdown, within its grace period.
 */

import { Server } from "node:http"

const idleCheckMillis = 50

export class PlatformServer extends Server {
  override close(callback?: (error?: Error) => void) {
    const idle = setInterval(() => this.closeIdleConnections(), idleCheckMillis).unref()
    return super.close((error) => {
      clearInterval(idle)
      callback?.(error)
    })
  }
}
