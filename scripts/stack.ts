/**
 * `npm run stack [-- --pg-profile contest|durable] [--port 9999] [--set NAME=value]… [--observe [--scrape-interval 1]] [--observe-only api01] [--verbose]`:
 * the Crébitos compose topology without Docker (nginx on :9999, two capped
 * API processes, PostgreSQL), until Ctrl-C.
 *
 * `npm run stack:payments [-- --port 9999] [--processor-ports 8001,8002] [--set NAME=value]… [--observe] [--verbose]`:
 * the Payments topology the same way, plus the two Payment Processor
 * simulators the contest provides (default on :8001, fee 0.05; fallback on
 * :8002, fee 0.15; admin token 123; `--processor-ports 0,0` for free ports).
 *
 * Like `restart: unless-stopped` in the compose files, a process of the
 * stack that dies is started again, on the same port and data.
 *
 * `--observe`: metrics on in each API (METRICS_PORT, a free port each) and
 * Debian's Prometheus, uncapped, scraping them every second (every
 * `--scrape-interval N` seconds); its URL is printed, and it stops with the
 * stack (docs/observability.md). `--observe-only api01` (repeatable): metrics
 * on in that API alone, the other one the control of a measurement of what
 * they cost.
 *
 * `--floor`: each API is the service's floor (`scripts/floor/<service>.ts`,
 * plain node:http) instead of this project, under the same caps.
 * `--api-entry api01=<file>` (repeatable): that API runs the file instead
 * (e.g. the bundle of another commit), the other ones this build.
 */

import { parseArgs } from "node:util"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Options from "./lib/Options.ts"
import * as Payments from "./lib/Payments.ts"
import * as Prometheus from "./lib/Prometheus.ts"
import * as Simulators from "./lib/Simulators.ts"
import * as Stack from "./lib/Stack.ts"

const { values } = parseArgs({
  options: {
    service: { type: "string", default: "crebitos" },
    "pg-profile": { type: "string", default: "contest" },
    port: { type: "string", default: "9999" },
    "processor-ports": {
      type: "string",
      default: `${Simulators.documentedPorts.default},${Simulators.documentedPorts.fallback}`
    },
    set: { type: "string", multiple: true, default: [] },
    observe: { type: "boolean", default: false },
    "observe-only": { type: "string", multiple: true, default: [] },
    "scrape-interval": { type: "string", default: String(Prometheus.defaultScrapeSeconds) },
    floor: { type: "boolean", default: false },
    "api-entry": { type: "string", multiple: true, default: [] },
    verbose: { type: "boolean", default: false }
  }
})

const [defaultPort = "", fallbackPort = "", ...extra] = values["processor-ports"].split(",")
if (extra.length > 0) throw new Error("--processor-ports takes two ports: default,fallback")
const processorPorts: Simulators.Ports = {
  default: Options.port("--processor-ports", defaultPort),
  fallback: Options.port("--processor-ports", fallbackPort)
}

const options: Stack.StackOptions = {
  service: values.service === "payments" ? "payments" : "crebitos",
  pgProfile: Options.pgProfile(values["pg-profile"]),
  port: Options.port("--port", values.port),
  verbose: values.verbose,
  observe: values.observe || values["observe-only"].length > 0,
  ...(values["observe-only"].length > 0 ? { observedApis: values["observe-only"] } : {}),
  scrapeSeconds: Options.scrapeSeconds(values["scrape-interval"]),
  floor: values.floor,
  apiEntries: Options.apiEntries(values["api-entry"]),
  apiEnvironment: Options.settings(values.set)
}
if (values.service !== "crebitos" && values.service !== "payments") throw new Error("--service is crebitos or payments")

/** Starts the stack; for Payments, says where its simulators are. */
const start = Effect.gen(function* () {
  if (options.service === "crebitos") return { stack: yield* Stack.up(options), extra: [] }
  const stack = yield* Payments.up(processorPorts)(options)
  const { token, urls } = stack.simulators
  return {
    stack,
    extra: [`  processors (uncapped): default ${urls.default}, fallback ${urls.fallback}, token ${token}`]
  }
})

const program = Effect.gen(function* () {
  const { extra, stack } = yield* start
  console.log(
    `\n${options.service === "crebitos" ? `Crébitos stack (PostgreSQL profile ${options.pgProfile})` : "Payments stack"} on ${stack.url}`
  )
  for (const running of stack.services) {
    const cap = running.capped
      ? `${running.limit.cpus} CPU, ${Math.round(running.limit.memoryBytes / 2 ** 20)}MB`
      : "uncapped"
    console.log(`  ${running.name.padEnd(6)} pid ${yield* running.pid}  ${cap}`)
  }
  if (options.floor === true) console.log(`  each API is ${Stack.apiEntry(options)}, not this project`)
  for (const [api, file] of Object.entries(options.apiEntries ?? {})) console.log(`  ${api} runs ${file}`)
  for (const line of extra) console.log(line)
  for (const url of Option.toArray(stack.prometheus))
    console.log(
      `  prometheus (uncapped) ${url}, scraping the metrics of ${options.observedApis?.join(", ") ?? "every API"}`
    )
  console.log("Ctrl-C to stop.")
  return yield* Effect.never
})

program.pipe(Effect.scoped, NodeRuntime.runMain)
