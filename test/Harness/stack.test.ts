import { randomUUID } from "node:crypto"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { exited, freePort, isAlive, listening, signalGroup, spawnProcess } from "../../local/Processes.ts"
import * as Compose from "../../scripts/lib/Compose.ts"
import { composePath } from "../../scripts/lib/Stack.ts"

const cgroupRoot = "/sys/fs/cgroup/cpu"
// As root the stack installs nginx itself; otherwise it needs one installed.
const canRun = existsSync("/usr/sbin/nginx") || process.getuid?.() === 0

const json = { "content-type": "application/json" }

/** What each service's stack must answer through nginx, on every instance (4 requests, round robin). */
const services = [
  {
    service: "crebitos",
    command: "npm run stack",
    serves: (url: string) =>
      Effect.gen(function* () {
        const statements = yield* Effect.promise(() =>
          Promise.all([1, 2, 3, 4].map(() => fetch(`${url}/clientes/1/extrato`)))
        )
        for (const response of statements) assert.strictEqual(response.status, 200)
      })
  },
  {
    service: "payments",
    command: "npm run stack:payments",
    serves: (url: string) =>
      Effect.gen(function* () {
        const payments = yield* Effect.promise(() =>
          Promise.all(
            [1, 2, 3, 4].map(() =>
              fetch(`${url}/payments`, {
                method: "POST",
                headers: json,
                body: JSON.stringify({ correlationId: randomUUID(), amount: 19.9 })
              })
            )
          )
        )
        for (const response of payments) assert.strictEqual(response.status, 202)
        // Through the simulator on :8001 and back into the summary.
        const summary = yield* Effect.promise(() =>
          fetch(`${url}/payments-summary`).then((response) => response.json())
        ).pipe(
          Effect.repeat({
            schedule: Schedule.spaced("100 millis"),
            until: (body) => JSON.stringify(body).includes('"totalRequests":4'),
            times: 50
          })
        )
        assert.deepStrictEqual(summary, {
          default: { totalRequests: 4, totalAmount: 79.6 },
          fallback: { totalRequests: 0, totalAmount: 0 }
        })
      })
  }
] as const

describe.each(services)("$command", ({ service, serves }) => {
  it.live.skipIf(!canRun)(
    "serves the contract behind nginx with the compose caps; Ctrl-C stops every process and removes its cgroups",
    () =>
      Effect.gen(function* () {
        const port = yield* freePort
        const stack = yield* spawnProcess(
          process.execPath,
          ["scripts/stack.ts", "--service", service, "--port", String(port)],
          { ready: /Ctrl-C to stop/ }
        )
        const output = stack.output()
        const pids = [...output.matchAll(/pid (\d+)/g)].map((match) => Number(match[1]))
        assert.strictEqual(pids.length, 4, output)

        yield* serves(`http://127.0.0.1:${port}`)

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
          const { file } = yield* Compose.load(composePath(service), { PG_PROFILE: "contest" })
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
        if (service === "payments") {
          for (const simulator of [8001, 8002]) {
            assert.isTrue(
              yield* listening(simulator).pipe(Effect.match({ onSuccess: () => false, onFailure: () => true }))
            )
          }
        }
      }).pipe(Effect.scoped),
    120_000
  )
})
