import { existsSync, readdirSync, readFileSync } from "node:fs"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { parse } from "yaml"
import { findExecutable, repositoryRoot, runCommand } from "../../local/Processes.ts"
import type { ServiceName } from "../../scripts/lib/Bundle.ts"
import * as Compose from "../../scripts/lib/Compose.ts"
import * as Nginx from "../../scripts/lib/Nginx.ts"
import { composePath } from "../../scripts/lib/Stack.ts"
import { mountedDashboards } from "../support/Dashboards.ts"

/** One way of starting the compose file, and the PostgreSQL it should give. */
interface Variant {
  readonly label: string
  /** What compose interpolates the file with. */
  readonly env: Readonly<Record<string, string>>
  /** The postgresql.conf mounted, under docker/<service>/. */
  readonly conf: string
  /** Init scripts run after every file of sql/<service>, relative to sql/. */
  readonly extraInit: ReadonlyArray<string>
  /** Settings that conf must have. */
  readonly settings: Readonly<Record<string, string>>
}

interface ServiceCase {
  readonly name: ServiceName
  readonly memoryMB: number
  readonly variants: readonly [Variant, ...Array<Variant>]
  /** The networks each API instance joins; nginx and db join `rinha` only. */
  readonly apiNetworks: ReadonlyArray<string>
  /** Top-level networks created outside this compose file. */
  readonly externalNetworks: ReadonlyArray<string>
  /** Environment each API instance must have (among other variables). */
  readonly apiEnvironment: (instance: string) => Readonly<Record<string, string>>
}

const crebitosProfile = (profile: "contest" | "durable"): Variant => {
  const relaxed = profile === "contest" ? "off" : "on"
  return {
    label: `PG_PROFILE=${profile}`,
    env: { PG_PROFILE: profile },
    conf: `postgresql-${profile}.conf`,
    extraInit: [join("crebitos", "profiles", `${profile}.sql`)],
    settings: { listen_addresses: "*", fsync: relaxed, synchronous_commit: relaxed, full_page_writes: relaxed }
  }
}

const cases = {
  crebitos: {
    name: "crebitos",
    memoryMB: 550,
    variants: [crebitosProfile("contest"), crebitosProfile("durable")],
    apiNetworks: ["rinha"],
    externalNetworks: [],
    apiEnvironment: () => ({})
  },
  payments: {
    name: "payments",
    memoryMB: 350,
    variants: [
      {
        label: "single profile",
        env: {},
        conf: "postgresql.conf",
        extraInit: [],
        settings: { listen_addresses: "*", synchronous_commit: "off" }
      }
    ],
    apiNetworks: ["rinha", "payment-processor"],
    externalNetworks: ["payment-processor"],
    apiEnvironment: (instance) => ({
      PROCESSOR_DEFAULT_URL: "http://payment-processor-default:8080",
      PROCESSOR_FALLBACK_URL: "http://payment-processor-fallback:8080",
      INSTANCE_ID: instance
    })
  }
} satisfies { readonly [Name in ServiceName]: ServiceCase & { readonly name: Name } }

const apiInstances = ["api01", "api02"]

/** What every API instance needs: nginx and the healthcheck reach it on 8080, and it reaches db. */
const commonApiEnvironment = { PORT: "8080", DATABASE_URL: "postgres://postgres:postgres@db:5432/rinha" }

/** What the tests read of docker/observability/prometheus/prometheus.yml. */
const PrometheusConfig = {
  decode: Schema.decodeUnknownSync(
    Schema.Struct({
      scrape_configs: Schema.Array(
        Schema.Struct({ static_configs: Schema.Array(Schema.Struct({ targets: Schema.Array(Schema.String) })) })
      )
    })
  )
}

/** What the tests read of Grafana's datasource provisioning. */
const GrafanaDatasources = {
  decode: Schema.decodeUnknownSync(
    Schema.Struct({ datasources: Schema.Array(Schema.Record(Schema.String, Schema.Unknown)) })
  )
}

/** The networks a service joins, whether listed or mapped; none listed means compose's default. */
const networksOf = (service: Pick<Compose.Service, "networks">): ReadonlyArray<string> => {
  const networks = service.networks
  if (networks === undefined) return ["default"]
  if (Array.isArray(networks)) return networks.map(String)
  return Object.keys(networks as object)
}

describe.each(Object.values(cases))("docker/$name/docker-compose.yml", (service: ServiceCase) => {
  const load = (variant: Variant = service.variants[0]) => Compose.load(composePath(service.name), variant.env)

  it.effect("the observability profile: Prometheus, Grafana and k6, in that profile only, outside the caps", () =>
    Effect.gen(function* () {
      const compose = yield* load()
      assert.deepStrictEqual(Object.keys(compose.profiled).sort(), ["grafana", "k6", "prometheus"])
      for (const [name, profiled] of Object.entries(compose.profiled)) {
        assert.deepStrictEqual(profiled.profiles, ["observability"], `${name}: only with --profile observability`)
        assert.notProperty(compose.file.services, name, `${name} is not a contest service`)
        // On the stack's network, to reach the APIs and nginx; k6 also where the APIs reach the processors.
        const expected = name === "k6" ? service.apiNetworks : ["rinha"]
        assert.deepStrictEqual([...networksOf(profiled)].sort(), [...expected].sort(), `${name}: networks`)
        for (const volume of profiled.volumes ?? []) {
          const [source = ""] = volume.split(":")
          assert.isTrue(existsSync(join(compose.directory, source)), `${name} mounts ${source}, which exists`)
        }
      }
    })
  )

  it.effect("Prometheus scrapes each API's METRICS_PORT, off in the contest, and takes k6's remote writes", () =>
    Effect.gen(function* () {
      const contest = yield* load()
      for (const [name, api] of Compose.apiServices(contest)) {
        assert.strictEqual(api.environment?.METRICS_PORT, "", `${name}: metrics off unless asked for`)
      }
      const observed = yield* Compose.load(composePath(service.name), {
        ...service.variants[0].env,
        METRICS_PORT: "9464"
      })
      const prometheus = observed.profiled.prometheus
      assert.isDefined(prometheus)
      if (prometheus === undefined) return
      assert.include(prometheus.command ?? [], "--web.enable-remote-write-receiver")
      assert.include(prometheus.command ?? [], "--config.file=/etc/prometheus/prometheus.yml")
      const config = Compose.volumeSource(observed, prometheus, "/etc/prometheus/prometheus.yml")
      assert.strictEqual(config, join(repositoryRoot, "docker", "observability", "prometheus", "prometheus.yml"))
      const scrape = PrometheusConfig.decode(parse(readFileSync(config ?? "", "utf8")))
      const targets = scrape.scrape_configs.flatMap((job) => job.static_configs.flatMap((group) => group.targets))
      assert.deepStrictEqual(
        targets,
        Compose.apiServices(observed).map(([name, api]) => `${api.hostname ?? name}:${api.environment?.METRICS_PORT}`)
      )

      const k6 = observed.profiled.k6
      assert.isDefined(k6)
      if (k6 === undefined) return
      assert.deepStrictEqual(k6.command, ["run", "-o", "experimental-prometheus-rw", `/k6/${service.name}.ts`])
      assert.strictEqual(k6.environment?.K6_PROMETHEUS_RW_SERVER_URL, "http://prometheus:9090/api/v1/write")
      assert.strictEqual(k6.environment?.BASE_URL, "http://nginx:9999")
      assert.strictEqual(Compose.volumeSource(observed, k6, "/k6"), join(repositoryRoot, "k6"))
    })
  )

  it.effect("Grafana: the Prometheus datasource and the dashboards kept in docker/observability, provisioned", () =>
    Effect.gen(function* () {
      const compose = yield* load()
      const grafana = compose.profiled.grafana
      assert.isDefined(grafana)
      if (grafana === undefined) return
      const provisioning = Compose.volumeSource(compose, grafana, "/etc/grafana/provisioning")
      assert.strictEqual(provisioning, join(repositoryRoot, "docker", "observability", "grafana", "provisioning"))
      const datasources = readFileSync(join(provisioning ?? "", "datasources", "prometheus.yml"), "utf8")
      assert.deepInclude(GrafanaDatasources.decode(parse(datasources)).datasources, {
        name: "Prometheus",
        uid: "prometheus",
        type: "prometheus",
        access: "proxy",
        url: "http://prometheus:9090",
        isDefault: true,
        jsonData: { timeInterval: "5s" }
      })
      const dashboards = mountedDashboards(compose, grafana)
      assert.include(
        dashboards,
        join(repositoryRoot, "docker", "observability", "grafana", "dashboards", "platform.json")
      )
      assert.include(dashboards, join(repositoryRoot, "docker", "observability", "grafana", "dashboards", "k6.json"))
    })
  )

  it.effect(`every service is capped, and the caps add up to at most 1.5 CPU and ${service.memoryMB}MB`, () =>
    Effect.gen(function* () {
      const { file } = yield* load()
      const services = Object.values(file.services)
      for (const [name, service] of Object.entries(file.services)) {
        assert.match(service.deploy.resources.limits.memory, /^\d+MB$/, `${name}: memory in MB`)
        assert.isAbove(Number(service.deploy.resources.limits.cpus), 0, name)
      }
      const cpus = services.reduce((sum, service) => sum + Compose.limitOf(service).cpus, 0)
      const memory = services.reduce(
        (sum, service) => sum + Number.parseInt(service.deploy.resources.limits.memory, 10),
        0
      )
      assert.isAtMost(Math.round(cpus * 100), 150)
      assert.isAtMost(memory, service.memoryMB)
    })
  )

  it.effect("nginx on 9999 in front of exactly two API instances, on a bridge network, nothing privileged", () =>
    Effect.gen(function* () {
      const compose = yield* load()
      const { file } = compose
      assert.deepStrictEqual(
        Compose.apiServices(compose).map(([name]) => name),
        apiInstances
      )
      assert.deepStrictEqual(file.services.nginx?.ports, ["9999:9999"])
      for (const [name, service] of Object.entries(file.services)) {
        assert.isUndefined(service.network_mode, `${name}: no network_mode`)
        assert.notStrictEqual(service.privileged, true, `${name}: not privileged`)
        assert.isUndefined(service.deploy.replicas, `${name}: no replicas`)
      }
      assert.strictEqual(file.networks?.rinha?.driver, "bridge")
      assert.isNotTrue(file.networks?.rinha?.external, "rinha is this file's own network")
    })
  )

  it.effect(`networks: the APIs join ${service.apiNetworks.join(" and ")}, nginx and db only rinha`, () =>
    Effect.gen(function* () {
      const { file } = yield* load()
      for (const [name, entry] of Object.entries(file.services)) {
        const expected = apiInstances.includes(name) ? service.apiNetworks : ["rinha"]
        assert.deepStrictEqual([...networksOf(entry)].sort(), [...expected].sort(), `${name}: networks`)
      }
      const external = Object.entries(file.networks ?? {})
        .filter(([, network]) => network.external === true)
        .map(([name]) => name)
      assert.deepStrictEqual(external, service.externalNetworks, "external networks")
    })
  )

  it.effect("each API instance listens on 8080, reaches db, and has its own environment", () =>
    Effect.gen(function* () {
      const { file } = yield* load()
      for (const api of apiInstances) {
        const environment = file.services[api]?.environment ?? {}
        for (const [name, value] of Object.entries({ ...commonApiEnvironment, ...service.apiEnvironment(api) })) {
          assert.strictEqual(environment[name], value, `${api}: ${name}`)
        }
      }
    })
  )

  it.effect("start order: db healthy, then both APIs healthy, then nginx", () =>
    Effect.gen(function* () {
      const { file } = yield* load()
      assert.deepStrictEqual(file.services.nginx?.depends_on, {
        api01: { condition: "service_healthy" },
        api02: { condition: "service_healthy" }
      })
      for (const api of apiInstances) {
        assert.deepStrictEqual(file.services[api]?.depends_on, { db: { condition: "service_healthy" } })
        assert.include(file.services[api]?.healthcheck?.test.join(" "), "/healthz")
      }
      assert.include(file.services.db?.healthcheck?.test.join(" "), "pg_isready -h 127.0.0.1")
    })
  )

  it.effect("every service comes back by itself after a crash (restart: unless-stopped; the stack does the same)", () =>
    Effect.gen(function* () {
      const { file } = yield* load()
      for (const [name, entry] of Object.entries(file.services)) {
        assert.strictEqual(entry.restart, "unless-stopped", name)
      }
    })
  )

  it.effect.each(service.variants)(
    `PostgreSQL is initialised from every file of sql/${service.name}, in order ($label)`,
    (variant) =>
      Effect.gen(function* () {
        const compose = yield* load(variant)
        const db = compose.file.services.db
        assert.isDefined(db)
        if (db === undefined) return
        const expected = [
          ...readdirSync(join(repositoryRoot, "sql", service.name))
            .filter((name) => name.endsWith(".sql"))
            .sort()
            .map((name) => join(repositoryRoot, "sql", service.name, name)),
          ...variant.extraInit.map((path) => join(repositoryRoot, "sql", path))
        ]
        assert.isAbove(expected.length, variant.extraInit.length, `sql/${service.name} has SQL files`)
        assert.deepStrictEqual(Compose.initScripts(compose, db), expected)
        const conf = Compose.volumeSource(compose, db, "/etc/postgresql/postgresql.conf")
        assert.strictEqual(conf, join(repositoryRoot, "docker", service.name, variant.conf))
        const settings = Compose.parsePostgresConf(readFileSync(conf ?? "", "utf8"))
        for (const [name, value] of Object.entries(variant.settings)) {
          assert.strictEqual(settings[name], value, `${variant.label}: ${name}`)
        }
      })
  )

  it.effect(
    "mounts docker/nginx.conf (both services'), which passes nginx -t once its upstreams point at this machine",
    () =>
      Effect.gen(function* () {
        const nginx = yield* findExecutable(["nginx", "/usr/sbin/nginx"], ["-v"])
        const compose = yield* load()
        const mounted = Compose.volumeSource(compose, compose.file.services.nginx ?? {}, "/etc/nginx/nginx.conf")
        assert.strictEqual(mounted, join(repositoryRoot, "docker", "nginx.conf"))
        const conf = readFileSync(mounted ?? "", "utf8")
        assert.include(conf, "listen 9999;")
        const local = Nginx.localConfig(conf, { api01: 18081, api02: 18082 }, 19999)
        assert.match(local, /server 127\.0\.0\.1:18081[ ;]/)
        assert.match(local, /server 127\.0\.0\.1:18082[ ;]/)
        // `npm run tools` installs it (CI runs it before the tests).
        if (Option.isNone(nginx)) return assert.fail("nginx is not installed: run npm run tools")
        const prefix = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(join(tmpdir(), "rinha-nginx-test-"))),
          (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
        )
        yield* Effect.promise(() => writeFile(join(prefix, "nginx.conf"), local))
        const output = yield* runCommand(nginx.value, [
          "-t",
          "-p",
          prefix,
          "-c",
          join(prefix, "nginx.conf"),
          "-e",
          "stderr"
        ])
        assert.include(output, "test is successful")
      }).pipe(Effect.scoped)
  )
})
