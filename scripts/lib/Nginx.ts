/**
 * nginx for the stack: found on the machine, or installed from Debian's
 * packages when running as root; run in the foreground with the compose
 * file's nginx.conf, its upstreams rewritten to the local API ports.
 */

import * as Apt from "./Apt.ts"

/** The nginx binary, installing it when possible. */
export const ensure = Apt.required({
  package: "nginx",
  candidates: ["nginx", "/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"],
  versionArgs: ["-v"]
})

/**
 * The compose nginx.conf with each `server <service>:<port> [parameters];`
 * upstream pointed at the local port of that service (its parameters kept),
 * and the listen port replaced. With `upstreamLog`, its `access_log off;`
 * becomes one line per request in that file — when, which instance answered
 * (several when nginx passed it on), with what status — for the fault suite
 * to see when an instance is back in rotation.
 */
export const localConfig = (
  conf: string,
  upstreams: Readonly<Record<string, number>>,
  listen: number,
  upstreamLog?: string
) =>
  conf
    .replace(/access_log\s+off\s*;/, (off) =>
      upstreamLog === undefined
        ? off
        : `log_format upstreams '$msec $upstream_addr $status';\n    access_log ${upstreamLog} upstreams;`
    )
    .replace(/server\s+([\w-]+):(\d+)([^;]*);/g, (_, service: string, _port: string, parameters: string) => {
      const port = upstreams[service]
      if (port === undefined) throw new Error(`nginx.conf names ${service}, which the stack does not run`)
      return `server 127.0.0.1:${port}${parameters};`
    })
    .replace(/listen\s+\d+\s*;/g, `listen ${listen};`)

export interface UpstreamAnswer {
  /** Unix ms. */
  readonly at: number
  /** The port of the instance that gave the answer (the last one tried). */
  readonly port: number
  readonly status: number
}

/** The lines of an upstream log (see `localConfig`). */
export const parseUpstreamLog = (text: string): ReadonlyArray<UpstreamAnswer> =>
  text.split("\n").flatMap((line) => {
    const match = /^(\d+\.\d+) (.*:(\d+)) (\d{3})$/.exec(line.trim())
    return match === null
      ? []
      : [{ at: Math.round(Number(match[1]) * 1000), port: Number(match[3]), status: Number(match[4]) }]
  })
