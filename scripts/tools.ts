/**
 * `npm run tools`: installs what the stack and the contest need besides
 * Node — nginx and Prometheus (Debian's packages, when root), k6 and actionlint
 * (pinned, with go install), schemathesis (pinned, with pip) — and says where
 * they are. The harness does the same on demand.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Actionlint from "./lib/Actionlint.ts"
import * as K6 from "./lib/K6.ts"
import * as Nginx from "./lib/Nginx.ts"
import * as Prometheus from "./lib/Prometheus.ts"
import * as Schemathesis from "./lib/Schemathesis.ts"

Effect.gen(function* () {
  console.log(`nginx: ${yield* Nginx.ensure}`)
  console.log(`prometheus: ${yield* Prometheus.ensure}`)
  console.log(`k6 ${K6.version}: ${yield* K6.ensure}`)
  console.log(`actionlint ${Actionlint.version}: ${yield* Actionlint.ensure}`)
  console.log(`schemathesis ${Schemathesis.version}: ${yield* Schemathesis.ensure}`)
}).pipe(NodeRuntime.runMain)
