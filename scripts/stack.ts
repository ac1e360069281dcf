/**
 * `npm run stack [-- --pg-profile contest|durable] [--port 9999] [--verbose]`:
 * the Crébitos compose topology without Docker (nginx on :9999, two capped
 * API processes, PostgreSQL), until Ctrl-C.
 *
 * `npm run stack:payments [-- --port 9999] [--verbose]`: the Payments
 * topology the same way, plus the two Payment Processor simulators the
 * contest provides (default on :8001, fee 0.05; fallback on :8002, fee 0.15;
 * admin token 123).
 */

import { parseArgs } from "node:util"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Simulators from "./lib/Simulators.ts"
import * as Stack from "./lib/Stack.ts"

const { values } = parseArgs({
  options: {
    service: { type: "string", default: "crebitos" },
    "pg-profile": { type: "string", default: "contest" },
    port: { type: "string", default: "9999" },
    verbose: { type: "boolean", default: false }
  }
})

const service = values.service
const pgProfile = values["pg-profile"]
if (service !== "crebitos" && service !== "payments") throw new Error("--service is crebitos or payments")
if (pgProfile !== "contest" && pgProfile !== "durable") throw new Error("--pg-profile is contest or durable")

const program = Effect.gen(function* () {
  const simulators = { ...Simulators.contestSimulators, verbose: values.verbose }
  const stack = yield* Stack.up({
    service,
    pgProfile,
    port: Number(values.port),
    verbose: values.verbose,
    ...(service === "payments" ? { apiEnvironment: Simulators.apiEnvironment(simulators) } : {})
  })
  console.log(
    `\n${service === "crebitos" ? `Crébitos stack (PostgreSQL profile ${pgProfile})` : "Payments stack"} on ${stack.url}`
  )
  for (const running of stack.services) {
    const cap = running.capped
      ? `${running.limit.cpus} CPU, ${Math.round(running.limit.memoryBytes / 2 ** 20)}MB`
      : "uncapped"
    console.log(`  ${running.name.padEnd(6)} pid ${running.pid}  ${cap}`)
  }
  if (service === "payments") {
    const running = yield* Simulators.start(simulators)
    console.log(
      `  processors (uncapped): default ${running.defaultUrl}, fallback ${running.fallbackUrl}, token ${running.token}`
    )
  }
  console.log("Ctrl-C to stop.")
  return yield* Effect.never
})

program.pipe(Effect.scoped, NodeRuntime.runMain)
