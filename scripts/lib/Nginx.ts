/**
 * nginx for the stack: found on the machine, or installed from Debian's
 * packages when running as root; run in the foreground with the compose
 * file's nginx.conf, its upstreams rewritten to the local API ports.
 */

import { existsSync } from "node:fs"
import { rm, writeFile } from "node:fs/promises"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { findExecutable, runCommand } from "../../local/Processes.ts"

const candidates = ["nginx", "/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"]

const installWithApt = Effect.gen(function* () {
  console.log("nginx is not installed: installing Debian's package (apt-get)…")
  // Debian starts a freshly installed service; this stack runs its own nginx,
  // so a policy-rc.d that refuses service starts is in place during the install.
  const policy = "/usr/sbin/policy-rc.d"
  const ownPolicy = !existsSync(policy)
  if (ownPolicy) yield* Effect.promise(() => writeFile(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 }))
  yield* Effect.gen(function* () {
    yield* runCommand("apt-get", ["update", "-qq"])
    yield* runCommand("apt-get", ["install", "-y", "-qq", "--no-install-recommends", "nginx"], {
      DEBIAN_FRONTEND: "noninteractive"
    })
  }).pipe(Effect.ensuring(ownPolicy ? Effect.promise(() => rm(policy, { force: true })) : Effect.void))
})

/** The nginx binary, installing it when possible. */
export const ensure = Effect.gen(function* () {
  const found = yield* findExecutable(candidates, ["-v"])
  if (Option.isSome(found)) return found.value
  if (process.getuid?.() !== 0) {
    return yield* Effect.fail(
      new Error(
        "nginx is not installed. Install it (Debian/Ubuntu: sudo apt-get install nginx) or run as root to have it installed."
      )
    )
  }
  yield* installWithApt
  const installed = yield* findExecutable(candidates, ["-v"])
  return yield* Option.match(installed, {
    onNone: () => Effect.fail(new Error("nginx still missing after apt-get install")),
    onSome: Effect.succeed
  })
})

/**
 * The compose nginx.conf with each `server <service>:<port> [parameters];`
 * upstream pointed at the local port of that service (its parameters kept),
 * and the listen port replaced.
 */
export const localConfig = (conf: string, upstreams: Readonly<Record<string, number>>, listen: number) =>
  conf
    .replace(/server\s+([\w-]+):(\d+)([^;]*);/g, (_, service: string, _port: string, parameters: string) => {
      const port = upstreams[service]
      if (port === undefined) throw new Error(`nginx.conf names ${service}, which the stack does not run`)
      return `server 127.0.0.1:${port}${parameters};`
    })
    .replace(/listen\s+\d+\s*;/g, `listen ${listen};`)
