/**
 * `npm run stack [-- --pg-profile contest|durable] [--port 9999] [--verbose]`:
 * the Crébitos compose topology without Docker (nginx on :9999, two capped
 * API processes, PostgreSQL), until Ctrl-C.
 */

import { parseArgs } from "node:util"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Stack from "./lib/Stack.ts"

const { values } = parseArgs({
  options: {
    "pg-profile": { type: "string", default: "contest" },
    port: { type: "string", default: "9999" },
    verbose: { type: "boolean", default: false }
  }
})

const pgProfile = values["pg-profile"]
if (pgProfile !== "contest" && pgProfile !== "durable") throw new Error("--pg-profile is contest or durable")

const program = Effect.gen(function* () {
  const stack = yield* Stack.up({ service: "crebitos", pgProfile, port: Number(values.port), verbose: values.verbose })
  console.log(`\nCrébitos stack (PostgreSQL profile ${pgProfile}) on ${stack.url}`)
  for (const service of stack.services) {
    const cap = service.capped
      ? `${service.limit.cpus} CPU, ${Math.round(service.limit.memoryBytes / 2 ** 20)}MB`
      : "uncapped"
    console.log(`  ${service.name.padEnd(6)} pid ${service.pid}  ${cap}`)
  }
  console.log("Ctrl-C to stop.")
  return yield* Effect.never
})

program.pipe(Effect.scoped, NodeRuntime.runMain)
