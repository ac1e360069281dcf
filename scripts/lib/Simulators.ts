/**
 * The two Payment Processors of the contest, as simulator processes on this
 * machine (src/ProcessorSim): `default` with a 5% fee and `fallback` with
 * 15%, both with the contest's initial admin token. They stand for the
 * contest's own containers, which are not ours to cap: they run uncapped.
 */

import { join } from "node:path"
import * as Effect from "effect/Effect"
import { repositoryRoot, spawnProcess, stopGracefully } from "../../local/Processes.ts"

export interface SimulatorOptions {
  readonly defaultPort: number
  readonly fallbackPort: number
  readonly token: string
  readonly verbose: boolean
}

export const contestSimulators: SimulatorOptions = {
  defaultPort: 8001,
  fallbackPort: 8002,
  token: "123",
  verbose: false
}

/** Where the API instances find the simulators, in their configuration's terms. */
export const apiEnvironment = (options: SimulatorOptions) => ({
  PROCESSOR_DEFAULT_URL: `http://127.0.0.1:${options.defaultPort}`,
  PROCESSOR_FALLBACK_URL: `http://127.0.0.1:${options.fallbackPort}`
})

export interface Simulators {
  readonly defaultUrl: string
  readonly fallbackUrl: string
  readonly token: string
}

/** Both simulators from the bundle (`npm run build`), for the life of the scope. */
export const start = Effect.fn("Simulators.start")(function* (options: SimulatorOptions) {
  const simulator = Effect.fn(function* (name: "default" | "fallback", port: number, fee: string) {
    const running = yield* spawnProcess(process.execPath, [join(repositoryRoot, "dist", "processor-sim.mjs")], {
      env: { PORT: String(port), PROCESSOR_FEE: fee, PROCESSOR_TOKEN: options.token },
      ready: /Listening on/,
      ...(options.verbose ? { echo: `processor-${name}` } : {})
    })
    yield* Effect.addFinalizer(() => stopGracefully(running, "SIGTERM"))
    return `http://127.0.0.1:${port}`
  })
  const [defaultUrl, fallbackUrl] = yield* Effect.all(
    [simulator("default", options.defaultPort, "0.05"), simulator("fallback", options.fallbackPort, "0.15")],
    { concurrency: "unbounded" }
  )
  return { defaultUrl, fallbackUrl, token: options.token } satisfies Simulators
})
