import { readdirSync, readFileSync } from "node:fs"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Compose from "../../scripts/lib/Compose.ts"
import * as Nginx from "../../scripts/lib/Nginx.ts"
import { findExecutable, repositoryRoot, runCommand } from "../../scripts/lib/Processes.ts"
import { composePath } from "../../scripts/lib/Stack.ts"

const profiles = ["contest", "durable"] as const
const load = (pgProfile: string) => Compose.load(composePath("crebitos"), { PG_PROFILE: pgProfile })

describe("docker/crebitos/docker-compose.yml", () => {
  it.effect("every service is capped, and the caps add up to at most 1.5 CPU and 550MB", () =>
    Effect.gen(function* () {
      const { file } = yield* load("contest")
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
      assert.isAtMost(memory, 550)
    })
  )

  it.effect("nginx on 9999 in front of exactly two API instances, on a bridge network, nothing privileged", () =>
    Effect.gen(function* () {
      const compose = yield* load("contest")
      const { file } = compose
      assert.deepStrictEqual(
        Compose.apiServices(compose).map(([name]) => name),
        ["api01", "api02"]
      )
      assert.deepStrictEqual(file.services.nginx?.ports, ["9999:9999"])
      for (const [name, service] of Object.entries(file.services)) {
        assert.isUndefined(service.network_mode, `${name}: no network_mode`)
        assert.notStrictEqual(service.privileged, true, `${name}: not privileged`)
        assert.isUndefined(service.deploy.replicas, `${name}: no replicas`)
      }
      assert.strictEqual(file.networks?.rinha?.driver, "bridge")
    })
  )

  it.effect("start order: db healthy, then both APIs healthy, then nginx", () =>
    Effect.gen(function* () {
      const { file } = yield* load("contest")
      assert.deepStrictEqual(file.services.nginx?.depends_on, {
        api01: { condition: "service_healthy" },
        api02: { condition: "service_healthy" }
      })
      for (const api of ["api01", "api02"]) {
        assert.deepStrictEqual(file.services[api]?.depends_on, { db: { condition: "service_healthy" } })
        assert.include(file.services[api]?.healthcheck?.test.join(" "), "/healthz")
      }
      assert.include(file.services.db?.healthcheck?.test.join(" "), "pg_isready")
    })
  )

  it.effect("PostgreSQL is initialised from every file of sql/crebitos, in order, then the profile", () =>
    Effect.gen(function* () {
      for (const profile of profiles) {
        const compose = yield* load(profile)
        const db = compose.file.services.db
        assert.isDefined(db)
        if (db === undefined) return
        const expected = [
          ...readdirSync(join(repositoryRoot, "sql", "crebitos"))
            .filter((name) => name.endsWith(".sql"))
            .sort()
            .map((name) => join(repositoryRoot, "sql", "crebitos", name)),
          join(repositoryRoot, "sql", "profiles", `${profile}.sql`)
        ]
        assert.deepStrictEqual(Compose.initScripts(compose, db), expected)
        const conf = Compose.volumeSource(compose, db, "/etc/postgresql/postgresql.conf")
        assert.strictEqual(conf, join(repositoryRoot, "docker", "crebitos", `postgresql-${profile}.conf`))
        const settings = Compose.parsePostgresConf(readFileSync(conf ?? "", "utf8"))
        const relaxed = profile === "contest" ? "off" : "on"
        for (const name of ["fsync", "synchronous_commit", "full_page_writes"]) {
          assert.strictEqual(settings[name], relaxed, `${profile}: ${name}`)
        }
        assert.strictEqual(settings.listen_addresses, "*")
      }
    })
  )

  it.effect("nginx.conf passes nginx -t once its upstreams point at this machine", () =>
    Effect.gen(function* () {
      const nginx = yield* findExecutable(["nginx", "/usr/sbin/nginx"], ["-v"])
      const conf = readFileSync(join(repositoryRoot, "docker", "crebitos", "nginx.conf"), "utf8")
      assert.include(conf, "listen 9999;")
      const local = Nginx.localConfig(conf, { api01: 18081, api02: 18082 }, 19999)
      assert.include(local, "server 127.0.0.1:18081;")
      assert.include(local, "server 127.0.0.1:18082;")
      if (Option.isNone(nginx)) return
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

describe("docker/Dockerfile", () => {
  const dockerfile = readFileSync(join(repositoryRoot, "docker", "Dockerfile"), "utf8")
  const instructions = dockerfile.split("\n").filter((line) => /^[A-Z]+\s/.test(line))

  it("is multi-stage on Node 24 and runs the bundle as a non-root user in production mode", () => {
    const froms = instructions.filter((line) => line.startsWith("FROM "))
    assert.isAtLeast(froms.length, 2)
    for (const from of froms) assert.match(from, /^FROM node:24[-.]/)
    assert.include(dockerfile, "NODE_ENV=production")
    assert.include(instructions, "USER node")
    assert.include(instructions, 'CMD ["node", "main.mjs"]')
    // Only the bundle and the SQL reach the final stage: no node_modules.
    const final = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "))
    assert.notInclude(final, "node_modules")
    assert.notInclude(final, "npm ")
  })
})
