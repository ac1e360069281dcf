/**
 * A program from Debian's packages: found on the machine, or installed with
 * apt-get when running as root (as CI does); none otherwise.
 */

import { existsSync } from "node:fs"
import { rm, writeFile } from "node:fs/promises"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { findExecutable, runCommand } from "../../local/Processes.ts"

export interface Program {
  /** Debian's package name. */
  readonly package: string
  /** Where the binary may be, the bare name first (PATH). */
  readonly candidates: ReadonlyArray<string>
  /** Arguments that make it exit 0 without doing anything (its version). */
  readonly versionArgs: ReadonlyArray<string>
}

const install = (name: string) =>
  Effect.gen(function* () {
    console.log(`${name} is not installed: installing Debian's package (apt-get)…`)
    // Debian starts a freshly installed service (nginx); the harness runs its
    // own, so a policy-rc.d that refuses service starts is in place meanwhile.
    const policy = "/usr/sbin/policy-rc.d"
    const ownPolicy = !existsSync(policy)
    if (ownPolicy) yield* Effect.promise(() => writeFile(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 }))
    yield* Effect.gen(function* () {
      yield* runCommand("apt-get", ["update", "-qq"])
      yield* runCommand("apt-get", ["install", "-y", "-qq", "--no-install-recommends", name], {
        DEBIAN_FRONTEND: "noninteractive"
      })
    }).pipe(Effect.ensuring(ownPolicy ? Effect.promise(() => rm(policy, { force: true })) : Effect.void))
  })

/** The program's path: found, or installed first when root; none when missing and not root. */
export const installed = (program: Program) =>
  Effect.gen(function* () {
    const found = yield* findExecutable(program.candidates, program.versionArgs)
    if (Option.isSome(found) || process.getuid?.() !== 0) return found
    yield* install(program.package)
    const after = yield* findExecutable(program.candidates, program.versionArgs)
    if (Option.isNone(after))
      return yield* Effect.fail(new Error(`${program.package} still missing after apt-get install`))
    return after
  })

/** The program's path, failing with how to install it when it is missing and this is not root. */
export const required = (program: Program) =>
  Effect.flatMap(
    installed(program),
    Option.match({
      onNone: () =>
        Effect.fail(
          new Error(
            `${program.package} is not installed. Install it (Debian/Ubuntu: sudo apt-get install ${program.package}) or run as root to have it installed.`
          )
        ),
      onSome: Effect.succeed
    })
  )
