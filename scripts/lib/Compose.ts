/**
 * Reads a docker-compose.yml the way `docker compose` would for what the
 * harness needs: services, their environment, volumes and resource limits.
 * The compose file is the single source of truth for the caps.
 */

import { readFile } from "node:fs/promises"
import { dirname, resolve } from "node:path"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { parse } from "yaml"

const Limits = Schema.Struct({ cpus: Schema.String, memory: Schema.String })

export const Service = Schema.Struct({
  image: Schema.optional(Schema.String),
  build: Schema.optional(Schema.Unknown),
  hostname: Schema.optional(Schema.String),
  restart: Schema.optional(Schema.Literals(["no", "always", "on-failure", "unless-stopped"])),
  environment: Schema.optional(Schema.Record(Schema.String, Schema.String)),
  volumes: Schema.optional(Schema.Array(Schema.String)),
  ports: Schema.optional(Schema.Array(Schema.String)),
  command: Schema.optional(Schema.Array(Schema.String)),
  network_mode: Schema.optional(Schema.String),
  privileged: Schema.optional(Schema.Boolean),
  networks: Schema.optional(Schema.Unknown),
  depends_on: Schema.optional(Schema.Record(Schema.String, Schema.Struct({ condition: Schema.String }))),
  healthcheck: Schema.optional(Schema.Struct({ test: Schema.Array(Schema.String) })),
  deploy: Schema.Struct({
    replicas: Schema.optional(Schema.Number),
    resources: Schema.Struct({ limits: Limits })
  })
})
export type Service = typeof Service.Type

export const ComposeFile = Schema.Struct({
  services: Schema.Record(Schema.String, Service),
  networks: Schema.optional(
    Schema.Record(
      Schema.String,
      Schema.Struct({ driver: Schema.optional(Schema.String), external: Schema.optional(Schema.Boolean) })
    )
  )
})
export type ComposeFile = typeof ComposeFile.Type

/**
 * A service that starts only with one of its profiles (`docker compose
 * --profile observability up`): beside the contest's, outside its caps.
 */
export const ProfiledService = Schema.Struct({
  profiles: Schema.NonEmptyArray(Schema.String),
  image: Schema.String,
  command: Schema.optional(Schema.Array(Schema.String)),
  environment: Schema.optional(Schema.Record(Schema.String, Schema.String)),
  volumes: Schema.optional(Schema.Array(Schema.String)),
  ports: Schema.optional(Schema.Array(Schema.String)),
  networks: Schema.optional(Schema.Unknown),
  depends_on: Schema.optional(Schema.Record(Schema.String, Schema.Struct({ condition: Schema.String })))
})
export type ProfiledService = typeof ProfiledService.Type

export interface Compose {
  /** What `docker compose up` starts: the contest's services, every one capped. */
  readonly file: ComposeFile
  /** What only a profile starts, by name. */
  readonly profiled: Readonly<Record<string, ProfiledService>>
  /** The folder relative host paths are resolved against. */
  readonly directory: string
}

const Sections = Schema.Struct({
  services: Schema.Record(Schema.String, Schema.Unknown),
  networks: Schema.optional(Schema.Unknown)
})

const hasProfiles = Schema.is(Schema.Struct({ profiles: Schema.Unknown }))

/** `${NAME:-default}` and `${NAME}`, as compose substitutes them from the environment. */
export const interpolate = (text: string, env: Readonly<Record<string, string | undefined>>) =>
  text.replace(/\$\{(\w+)(?::-([^}]*))?\}/g, (_, name: string, fallback: string | undefined) => {
    const value = env[name]
    return value === undefined || value === "" ? (fallback ?? "") : value
  })

export const load = Effect.fn("Compose.load")(function* (
  path: string,
  env: Readonly<Record<string, string | undefined>>
) {
  const text = yield* Effect.promise(() => readFile(path, "utf8"))
  const { services, networks } = yield* Schema.decodeUnknownEffect(Sections)(
    parse(interpolate(text, env), { merge: true })
  )
  const entries = Object.entries(services)
  const file = yield* Schema.decodeUnknownEffect(ComposeFile)({
    services: Object.fromEntries(entries.filter(([, service]) => !hasProfiles(service))),
    networks
  })
  const profiled = yield* Schema.decodeUnknownEffect(Schema.Record(Schema.String, ProfiledService))(
    Object.fromEntries(entries.filter(([, service]) => hasProfiles(service)))
  )
  return { file, profiled, directory: dirname(resolve(path)) } satisfies Compose
})

/** Docker reads "MB" as MiB (go-units' RAMInBytes). */
export const parseMemory = (text: string): number => {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/i.exec(text.trim())
  if (match === null) throw new Error(`unreadable memory limit: ${text}`)
  const scale = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[(match[2] ?? "").toLowerCase() as "" | "k" | "m" | "g"]
  return Math.round(Number(match[1]) * scale)
}

export interface Limit {
  readonly cpus: number
  readonly memoryBytes: number
}

export const limitOf = (service: Service): Limit => ({
  cpus: Number(service.deploy.resources.limits.cpus),
  memoryBytes: parseMemory(service.deploy.resources.limits.memory)
})

/** Host path of the volume mounted at `target` (a file or folder), if any. */
export const volumeSource = (
  compose: Compose,
  service: Pick<Service, "volumes">,
  target: string
): string | undefined => {
  for (const volume of service.volumes ?? []) {
    const [source, mountedAt] = volume.split(":")
    if (source !== undefined && mountedAt === target) return resolve(compose.directory, source)
  }
  return undefined
}

/** The SQL files the PostgreSQL image runs at init, in the order it runs them. */
export const initScripts = (compose: Compose, service: Service): ReadonlyArray<string> =>
  (service.volumes ?? [])
    .map((volume) => volume.split(":"))
    .filter(([, target]) => target?.startsWith("/docker-entrypoint-initdb.d/") && target.endsWith(".sql"))
    .sort(([, a], [, b]) => (a ?? "").localeCompare(b ?? ""))
    .map(([source]) => resolve(compose.directory, source ?? ""))

/** `name = value` lines of a postgresql.conf, quotes and comments removed. */
export const parsePostgresConf = (text: string): Record<string, string> =>
  Object.fromEntries(
    text
      .split("\n")
      .map((line) => line.replace(/#.*/, "").trim())
      .filter((line) => line.includes("="))
      .map((line) => {
        const [name = "", ...rest] = line.split("=")
        return [
          name.trim(),
          rest
            .join("=")
            .trim()
            .replace(/^'(.*)'$/, "$1")
        ]
      })
  )

/** The services built from this repository: the API instances. */
export const apiServices = (compose: Compose) =>
  Object.entries(compose.file.services).filter(([, service]) => service.build !== undefined)
