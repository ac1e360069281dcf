/**
 * The contest on this machine, one runner for both services (scripts/lib/Contest.ts):
 *
 *   npm run contest -- --profile contest|smoke|steady|stress [--pg-profile contest|durable]
 *   npm run contest:payments -- --profile contest|smoke
 *
 * brings the capped stack up (`npm run stack`, `npm run stack:payments` with
 * the simulators on free ports), waits for it as the contest does, runs the
 * service's k6 script, audits, takes the stack down and writes
 * reports/<timestamp>-<service>-<profile>[-<pg-profile>]/ (summary.json,
 * summary.md, index.html). Exits non-zero when the verdict fails (a KO, an
 * inconsistency, a lag…; never for `stress`, which looks for the ceiling).
 * Both take `--set NAME=value` (repeatable: an API setting over the compose
 * file's, e.g. `--set FALLBACK_AFTER=0s`), `--port 9999` and `--verbose`;
 * `--observe` turns the APIs' metrics on, has Prometheus scrape them and adds
 * their server-side panels to the report (docs/observability.md); every
 * second, or every `--scrape-interval N` seconds (the compose profile's 5, to
 * measure what metrics cost as deployed). `--observe-only api01` turns them
 * on in that API alone: api02 answers the same requests in the same seconds
 * beside the same Prometheus, so the report's per-service CPU tells what
 * metrics cost inside the process. `--floor` runs the same contest with each
 * API replaced by the service's floor (`scripts/floor/<service>.ts`: plain
 * node:http, for Crébitos with `pg` and the same procedures), under the same
 * caps: what the harness itself allows on this machine, in the same sitting.
 * `--api-entry api01=<file>` (repeatable) runs that file in that API instead
 * of this build — e.g. the bundle of another commit, built in a worktree —
 * so two builds answer the same requests in the same seconds and the
 * report's per-service CPU compares them (docs/harness.md).
 */

import { parseArgs } from "node:util"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Contest from "./lib/Contest.ts"
import * as Crebitos from "./lib/Crebitos.ts"
import * as Options from "./lib/Options.ts"
import * as Payments from "./lib/Payments.ts"
import * as Prometheus from "./lib/Prometheus.ts"

const { values } = parseArgs({
  options: {
    service: { type: "string", default: "crebitos" },
    profile: { type: "string", default: "smoke" },
    "pg-profile": { type: "string", default: "contest" },
    set: { type: "string", multiple: true, default: [] },
    port: { type: "string", default: "9999" },
    observe: { type: "boolean", default: false },
    "observe-only": { type: "string", multiple: true, default: [] },
    "scrape-interval": { type: "string", default: String(Prometheus.defaultScrapeSeconds) },
    floor: { type: "boolean", default: false },
    "api-entry": { type: "string", multiple: true, default: [] },
    verbose: { type: "boolean", default: false }
  }
})

const options: Contest.RunOptions = {
  profile: values.profile,
  pgProfile: Options.pgProfile(values["pg-profile"]),
  settings: Options.settings(values.set),
  port: Options.port("--port", values.port),
  verbose: values.verbose,
  observe: values.observe || values["observe-only"].length > 0,
  ...(values["observe-only"].length > 0 ? { observedApis: values["observe-only"] } : {}),
  scrapeSeconds: Options.scrapeSeconds(values["scrape-interval"]),
  floor: values.floor,
  apiEntries: Options.apiEntries(values["api-entry"])
}

const program =
  values.service === "crebitos"
    ? Contest.run(Crebitos.contest, options)
    : values.service === "payments"
      ? Contest.run(Payments.contest, options)
      : Effect.fail(new Error("--service is crebitos or payments"))

program.pipe(Effect.timeout(Duration.minutes(30)), NodeRuntime.runMain)
