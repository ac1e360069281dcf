/**
 * nginx for the stack: found on the machine, or installed from Debian's
 * packages when running as root; run in the foreground with the compose
 * file's nginx.conf, its upstreams rewritten to where the local APIs listen.
 */

import * as Apt from "./Apt.ts"

/** The nginx binary, installing it when possible. */
export const ensure = Apt.required({
  package: "nginx",
  candidates: ["nginx", "/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"],
  versionArgs: ["-v"]
})

/**
 * The compose nginx.conf with each upstream — `server <service>:<port>` or
 * `server unix:<path>`, its parameters kept — pointed at where that API
 * listens on this machine (`local`, keyed by the compose address), and the
 * listen port replaced. With `upstreamLog`, its `access_log off;` becomes one
 * line per request in that file — when, which instance answered (several
 * when nginx passed it on), with what status — for the fault suite to see
 * when an instance is back in rotation.
 */
export const localConfig = (
  conf: string,
  local: Readonly<Record<string, string>>,
  listen: number,
  upstreamLog?: string
) =>
  conf
    .replace(/access_log\s+off\s*;/, (off) =>
      upstreamLog === undefined
        ? off
        : `log_format upstreams '$msec $upstream_addr $status';\n    access_log ${upstreamLog} upstreams;`
    )
    .replace(/server\s+(unix:[^\s;]+|[\w-]+:\d+)([^;]*);/g, (_, address: string, parameters: string) => {
      const here = local[address]
      if (here === undefined) throw new Error(`nginx.conf names ${address}, which the stack does not run`)
      return `server ${here}${parameters};`
    })
    .replace(/listen\s+\d+\s*;/g, `listen ${listen};`)

export interface UpstreamAnswer {
  /** Unix ms. */
  readonly at: number
  /** The address of the instance that gave the answer (the last one tried), as nginx names it. */
  readonly upstream: string
  readonly status: number
}

/** The lines of an upstream log (see `localConfig`). */
export const parseUpstreamLog = (text: string): ReadonlyArray<UpstreamAnswer> =>
  text.split("\n").flatMap((line) => {
    const match = /^(\d+\.\d+) (?:.*, )?(\S+) (\d{3})$/.exec(line.trim())
    return match === null || match[2] === undefined
      ? []
      : [{ at: Math.round(Number(match[1]) * 1000), upstream: match[2], status: Number(match[3]) }]
  })
