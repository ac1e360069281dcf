/**
 * The last step of `npm run check`: actionlint (pinned, built once) over the
 * workflows, or over the files given. Exits with actionlint's code.
 */
import { spawnSync } from "node:child_process"
import { resolve } from "node:path"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import { repositoryRoot } from "../local/Processes.ts"
import * as Actionlint from "./lib/Actionlint.ts"

Effect.gen(function* () {
  const binary = yield* Actionlint.ensure
  const shellcheck = yield* Actionlint.shellcheck
  const files = process.argv.slice(2).map((file) => resolve(file))
  const result = yield* Effect.sync(() =>
    spawnSync(binary, Actionlint.args(files, shellcheck), { cwd: repositoryRoot, stdio: "inherit" })
  )
  process.exitCode = result.status ?? 1
}).pipe(NodeRuntime.runMain)
