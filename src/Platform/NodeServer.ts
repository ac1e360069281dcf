/**
 * Node's HTTP server as the platform runs it: on its port, and on a Unix
 * socket too when `SOCKET_PATH` is set.
 *
 * nginx on the same host reaches the APIs through the socket (compose shares
 * its folder as a volume): a Unix socket skips the TCP/IP stack on both
 * sides of every request, CPU inside the contest's caps. The port stays open
 * for everything else: the healthcheck, direct use, the warm-up.
 *
 * Node's HTTP server listens on one address only, so a plain `net` server
 * listens on the path and hands each connection to it: the same parser,
 * limits, timeouts and keep-alive as on the port.
 */

import { chmod, lstat, unlink } from "node:fs/promises"
import { Server } from "node:http"
import { createServer, type Server as NetServer } from "node:net"
import { isAbsolute } from "node:path"
import * as Config from "effect/Config"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

/** Linux keeps a socket's path in 108 bytes, the last a NUL. */
const maxPathBytes = 107

const isSocketPath = Schema.makeFilter<string>(
  (path) =>
    !isAbsolute(path)
      ? "must be an absolute path"
      : Buffer.byteLength(path) > maxPathBytes
        ? `must be at most ${maxPathBytes} bytes long (Linux's limit for a socket's path)`
        : true,
  { expected: `an absolute path of at most ${maxPathBytes} bytes` }
)

/** Where to answer besides the port; unset, nowhere. */
export const SocketPath = Config.option(Config.schema(Schema.String.check(isSocketPath), "SOCKET_PATH"))

export class SocketPathTaken extends Data.TaggedError("SocketPathTaken")<{
  readonly path: string
  readonly cause?: unknown
}> {
  override get message() {
    const reason = this.cause === undefined ? "a file that is not a socket is there" : String(this.cause)
    return `SOCKET_PATH ${this.path} cannot be listened on: ${reason}`
  }
}

/** Node offers no event for a connection turning idle; how often shutdown looks for them. */
const idleCheckMillis = 50

/**
 * The HTTP server, with a shutdown that ends as soon as the last answer is
 * out. Node's `close` ends the connections idle at that moment, once: one
 * busy then (a request in flight) is kept alive after its answer, and the
 * shutdown waits for its keep-alive timeout (65 s here, so the whole grace
 * period). This `close` ends idle connections until none is left, and closes
 * the socket's listener too, calling back once both have drained. It is
 * what Effect's NodeHttpServer calls at shutdown, within its grace period.
 */
export class PlatformServer extends Server {
  #socket: NetServer | undefined

  /** Answers on `path` too, from now until `close`. */
  listenOnSocket(path: string) {
    return new Promise<void>((resolve, reject) => {
      const listener = createServer((connection) => this.emit("connection", connection))
      listener.once("error", reject)
      listener.listen(path, () => {
        listener.off("error", reject)
        this.#socket = listener
        resolve()
      })
    })
  }

  override close(callback?: (error?: Error) => void) {
    const closing: Array<Promise<void>> = [
      new Promise((resolve, reject) => super.close((error) => (error === undefined ? resolve() : reject(error))))
    ]
    const socket = this.#socket
    // Closing the listener removes the socket's file.
    if (socket?.listening === true) closing.push(new Promise((resolve) => socket.close(() => resolve())))
    const idle = setInterval(() => this.closeIdleConnections(), idleCheckMillis).unref()
    Promise.all(closing).then(
      () => {
        clearInterval(idle)
        callback?.()
      },
      (error: Error) => {
        clearInterval(idle)
        callback?.(error)
      }
    )
    return this
  }
}

/**
 * A socket left at the path by a process that did not close it (killed, out
 * of memory) refuses every connection and blocks `listen`: it is removed.
 * Anything else there is not ours to delete.
 */
const clearStaleSocket = async (path: string) => {
  const existing = await lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined
    throw error
  })
  if (existing === undefined) return
  if (!existing.isSocket()) throw new SocketPathTaken({ path })
  await unlink(path)
}

/**
 * `server` answers on `SOCKET_PATH` too, when it is set, until it closes.
 * Everyone on the host may connect: nginx runs as another user.
 */
export const answerOnSocketPath = (server: PlatformServer) =>
  Effect.flatMap(SocketPath, (path) =>
    Option.match(path, {
      onNone: () => Effect.void,
      onSome: (path) =>
        Effect.tryPromise({
          try: async () => {
            await clearStaleSocket(path)
            await server.listenOnSocket(path)
            await chmod(path, 0o666)
          },
          catch: (cause) => (cause instanceof SocketPathTaken ? cause : new SocketPathTaken({ path, cause }))
        })
    })
  )
