/**
 * k6, pinned: found on the machine at that version, or built from the Go
 * module proxy with `go install` into a cache directory.
 */

import { homedir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { findExecutable, runCommand } from "../../local/Processes.ts"

export const version = "v1.8.1"

const cacheDir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "rinha", "k6", version)
const cached = join(cacheDir, "k6")

const isPinned = (binary: string) =>
  runCommand(binary, ["version"]).pipe(
    Effect.map((output) => output.includes(`k6 ${version} `)),
    Effect.catch(() => Effect.succeed(false))
  )

export const ensure = Effect.gen(function* () {
  for (const candidate of [process.env.K6_BIN, cached, "k6"]) {
    if (candidate !== undefined && (yield* isPinned(candidate))) return candidate
  }
  const go = yield* findExecutable(["go", "/usr/local/go/bin/go", "/usr/lib/go/bin/go"], ["version"])
  if (Option.isNone(go)) {
    return yield* Effect.fail(new Error(`k6 ${version} is not installed and Go (to build it) was not found`))
  }
  console.log(`Installing k6 ${version} with go install into ${cacheDir} (a few minutes, once)…`)
  yield* runCommand(go.value, ["install", `go.k6.io/k6@${version}`], { GOBIN: cacheDir })
  return cached
})
