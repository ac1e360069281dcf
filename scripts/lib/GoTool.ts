/**
 * A command-line tool pinned to one version: the one on the machine when it
 * reports that version, else built from the Go module proxy with
 * `go install module@version` into ~/.cache/rinha/<name>/<version> (once;
 * later calls find it there).
 */

import { homedir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { findExecutable, runCommand } from "../../local/Processes.ts"

export interface Pin {
  /** The binary's name, also its cache folder's. */
  readonly name: string
  /** The Go package `go install` builds. */
  readonly module: string
  readonly version: string
  /** What makes the binary print its version. */
  readonly versionArgs: ReadonlyArray<string>
  /** Whether that output is the pinned version's. */
  readonly reports: (output: string) => boolean
  /** An environment variable naming a binary to use instead, when it is the pinned version. */
  readonly override: string
}

const cacheDir = (pin: Pin) =>
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "rinha", pin.name, pin.version)

const isPinned = (pin: Pin, binary: string) =>
  runCommand(binary, pin.versionArgs).pipe(
    Effect.map(pin.reports),
    Effect.catch(() => Effect.succeed(false))
  )

/** The path of the pinned binary, building it when no candidate is that version. */
export const ensure = (pin: Pin) =>
  Effect.gen(function* () {
    const cached = join(cacheDir(pin), pin.name)
    for (const candidate of [process.env[pin.override], cached, pin.name]) {
      if (candidate !== undefined && (yield* isPinned(pin, candidate))) return candidate
    }
    const go = yield* findExecutable(["go", "/usr/local/go/bin/go", "/usr/lib/go/bin/go"], ["version"])
    if (Option.isNone(go)) {
      return yield* Effect.fail(
        new Error(`${pin.name} ${pin.version} is not installed and Go (to build it) was not found`)
      )
    }
    console.log(`Installing ${pin.name} ${pin.version} with go install into ${cacheDir(pin)} (once)…`)
    yield* runCommand(go.value, ["install", `${pin.module}@${pin.version}`], { GOBIN: cacheDir(pin) })
    if (!(yield* isPinned(pin, cached))) {
      return yield* Effect.fail(new Error(`${cached} does not report version ${pin.version} after go install`))
    }
    return cached
  })
