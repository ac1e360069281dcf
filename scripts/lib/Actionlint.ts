/**
 * actionlint, pinned (GoTool), for the GitHub Actions workflows: nothing
 * under .github/workflows/ can run on this machine, so `npm run check` lints
 * them statically. With shellcheck (Debian's package) it also checks every
 * `run:` script.
 */

import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Apt from "./Apt.ts"
import * as GoTool from "./GoTool.ts"

export const version = "v1.7.12"

export const ensure = GoTool.ensure({
  name: "actionlint",
  module: "github.com/rhysd/actionlint/cmd/actionlint",
  version,
  versionArgs: ["-version"],
  reports: (output) => output.split("\n")[0]?.trim() === version,
  override: "ACTIONLINT_BIN"
})

/** shellcheck's path, installed when possible; none (and said) when it cannot be. */
export const shellcheck = Apt.installed({
  package: "shellcheck",
  candidates: ["shellcheck"],
  versionArgs: ["--version"]
}).pipe(
  Effect.tap(
    Option.match({
      onNone: () =>
        Effect.sync(() =>
          console.warn("shellcheck is not installed (apt-get install shellcheck): run: scripts are not checked")
        ),
      onSome: () => Effect.void
    })
  )
)

/**
 * actionlint's arguments: the given workflow files (all of .github/workflows/
 * when none), with shellcheck when there is one and without it otherwise.
 */
export const args = (files: ReadonlyArray<string>, shellcheckPath: Option.Option<string>) => [
  `-shellcheck=${Option.getOrElse(shellcheckPath, () => "")}`,
  ...files
]
