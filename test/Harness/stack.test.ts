import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Compose from "../../scripts/lib/Compose.ts"
import { exited, isAlive, signalGroup, spawnProcess } from "../../scripts/lib/Processes.ts"
import { composePath } from "../../scripts/lib/Stack.ts"
import { freePort } from "../../src/Platform/EmbeddedPostgres.ts"

const cgroupRoot = "/sys/fs/cgroup/cpu"
// As root the stack installs nginx itself; otherwise it needs one installed.
const canRun = existsSync("/usr/sbin/nginx") || process.getuid?.() === 0

describe("npm run stack", () => {
  it.live.skipIf(!canRun)(
    "serves the contract behind nginx with the compose caps; Ctrl-C stops every process and removes its cgroups",
    () =>
      Effect.gen(function* () {
        const port = yield* freePort
        const stack = yield* spawnProcess(process.execPath, ["scripts/stack.ts", "--port", String(port)], {
          ready: /Ctrl-C to stop/
        })
        const output = stack.output()
        const pids = [...output.matchAll(/pid (\d+)/g)].map((match) => Number(match[1]))
        assert.strictEqual(pids.length, 4, output)

        const statements = yield* Effect.promise(() =>
          Promise.all([1, 2, 3, 4].map(() => fetch(`http://127.0.0.1:${port}/clientes/1/extrato`)))
        )
        for (const response of statements) assert.strictEqual(response.status, 200)

        const mine = () =>
          existsSync(cgroupRoot)
            ? readdirSync(cgroupRoot).filter((name) => name.startsWith(`rinha-${stack.child.pid}-`))
            : []
        if (output.includes("UNCAPPED")) {
          assert.deepStrictEqual(mine(), [])
        } else {
          assert.deepStrictEqual(
            mine().sort(),
            ["api01", "api02", "db", "nginx"].map((name) => `rinha-${stack.child.pid}-${name}`)
          )
          const { file } = yield* Compose.load(composePath("crebitos"), { PG_PROFILE: "contest" })
          for (const [name, service] of Object.entries(file.services)) {
            const quota = Number(
              readFileSync(join(cgroupRoot, `rinha-${stack.child.pid}-${name}`, "cpu.cfs_quota_us"), "utf8")
            )
            assert.strictEqual(quota, Math.round(Compose.limitOf(service).cpus * 100_000), name)
          }
        }

        yield* signalGroup(stack.child, "SIGINT")
        yield* exited(stack.child)
        for (const pid of pids) assert.isFalse(isAlive(pid), `process ${pid} stopped`)
        assert.deepStrictEqual(mine(), [])
      }).pipe(Effect.scoped),
    120_000
  )
})
