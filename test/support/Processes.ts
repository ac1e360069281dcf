/** For tests that run a service as a process of its own and watch it from outside, over its port. */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { listening } from "../../local/Processes.ts"

/**
 * Asks `condition` every 50 ms (an error counts as not yet) until it holds;
 * dies when it has not within `within`.
 */
export const eventually = <E, R>(condition: Effect.Effect<boolean, E, R>, within: Duration.Input = "10 seconds") =>
  condition.pipe(
    Effect.filterOrFail(
      (ok) => ok,
      () => new Error("condition not reached")
    ),
    Effect.retry({ schedule: Schedule.spaced("50 millis") }),
    Effect.timeoutOrElse({
      duration: within,
      orElse: () => Effect.die(new Error("condition not reached in time"))
    }),
    Effect.orDie
  )

/** Whether nothing accepts connections on 127.0.0.1:`port`. */
export const refusesConnections = (port: number) =>
  listening(port).pipe(Effect.match({ onSuccess: () => false, onFailure: () => true }))

/** A Crébitos debit of 1 for `cliente` on the server at `port`: its status and body. */
export const debit = (port: number, cliente: number, descricao = "processo") =>
  Effect.promise(() =>
    fetch(`http://127.0.0.1:${port}/clientes/${cliente}/transacoes`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ valor: 1, tipo: "d", descricao })
    }).then(async (response) => ({ status: response.status, body: await response.text() }))
  )
