import { randomUUID } from "node:crypto"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { request } from "node:http"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { exited, freePort, isAlive, signalGroup, spawnProcess } from "../../local/Processes.ts"
import * as Compose from "../../scripts/lib/Compose.ts"
import { composePath } from "../../scripts/lib/Stack.ts"
import { refusesConnections } from "../support/Processes.ts"

const cgroupRoot = "/sys/fs/cgroup/cpu"

const json = { "content-type": "application/json" }

/** Four GETs through nginx (round robin: each instance twice), all 200. */
const answers = (url: string) =>
  Effect.gen(function* () {
    const responses = yield* Effect.promise(() => Promise.all([1, 2, 3, 4].map(() => fetch(url))))
    for (const response of responses) assert.strictEqual(response.status, 200, url)
  })

/** A TRACE (which fetch refuses to send): its status and `Allow`. */
const trace = (url: string) =>
  Effect.callback<{ readonly status: number; readonly allow: string | undefined }>((resume) => {
    const sent = request(url, { method: "TRACE" }, (response) => {
      response.resume()
      resume(Effect.succeed({ status: response.statusCode ?? 0, allow: response.headers.allow }))
    })
    sent.once("error", (error) => resume(Effect.die(error)))
    sent.end()
  })

/** What each service's stack must answer through nginx, on every instance. */
const services = [
  {
    service: "crebitos",
    command: "npm run stack",
    readPath: "/clientes/1/extrato",
    serves: (url: string) => answers(`${url}/clientes/1/extrato`)
  },
  {
    service: "payments",
    command: "npm run stack:payments",
    readPath: "/payments-summary",
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
        // Through the default simulator and back into the summary.
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

describe.each(services)("$command", ({ readPath, service, serves }) => {
  it.live(
    "serves the contract behind nginx with the compose caps; a killed API comes back (restart: unless-stopped); Ctrl-C stops every process and removes its cgroups",
    () =>
      Effect.gen(function* () {
        const port = yield* freePort
        const stack = yield* spawnProcess(
          process.execPath,
          // Processors on free ports: stacks of other runs may hold the documented 8001/8002.
          ["scripts/stack.ts", "--service", service, "--port", String(port), "--processor-ports", "0,0"],
          { ready: /Ctrl-C to stop/ }
        )
        const output = stack.output()
        const pids = [...output.matchAll(/pid (\d+)/g)].map((match) => Number(match[1]))
        assert.strictEqual(pids.length, 4, output)

        const processors = [...output.matchAll(/(default|fallback) http:\/\/127\.0\.0\.1:(\d+)/g)].map((match) =>
          Number(match[2])
        )
        assert.strictEqual(processors.length, service === "payments" ? 2 : 0, output)
        const url = `http://127.0.0.1:${port}`
        yield* serves(url)
        // nginx would refuse it itself, without `Allow`; the API answers it as any method the path does not take.
        assert.deepStrictEqual(yield* trace(`${url}${readPath}`), { status: 405, allow: "GET, HEAD" })

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

        // kill -9 of api01 (listed second, after db): started again on its port, in its cgroup.
        const api01 = pids[1] ?? 0
        process.kill(api01, "SIGKILL")
        const restarted = yield* Effect.sync(() => /api01 restarted \(pid (\d+)\)/.exec(stack.output())?.[1]).pipe(
          Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (pid) => pid !== undefined, times: 200 })
        )
        const newPid = Number(restarted)
        assert.isAbove(newPid, 0, stack.output())
        assert.notStrictEqual(newPid, api01)
        if (!output.includes("UNCAPPED")) {
          const members = readFileSync(join(cgroupRoot, `rinha-${stack.child.pid}-api01`, "cgroup.procs"), "utf8")
          assert.include(members.split("\n"), String(newPid))
        }
        yield* answers(`${url}${readPath}`)

        yield* signalGroup(stack.child, "SIGINT")
        yield* exited(stack.child)
        for (const pid of [...pids, newPid]) assert.isFalse(isAlive(pid), `process ${pid} stopped`)
        assert.deepStrictEqual(mine(), [])
        for (const simulator of processors) {
          assert.isTrue(yield* refusesConnections(simulator))
        }
      }).pipe(Effect.scoped),
    120_000
  )
})
