import { readFileSync } from "node:fs"
import { Readable } from "node:stream"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import { freePort, spawnProcess } from "../../local/Processes.ts"
import { freshDatabase } from "../support/Database.ts"
import { rawRequest } from "../support/Http.ts"

const megabytes = 2 ** 20
/**
 * What the uploads may add to the process's resident memory. The test runs
 * the sources, whose code alone takes ~50 MB more than the image's bundle, so
 * the cap (130 MB, docker/crebitos/docker-compose.yml) is checked as growth:
 * the bundle starts near 105 MB, and one 100 MB body read whole would add
 * more than all of this.
 */
const allowedGrowth = 16 * megabytes
const uploadBytes = 100 * megabytes

/** 100 MB of body, produced as it is sent, never held by the test either. */
const hugeBody = () => {
  const chunk = Buffer.alloc(64 * 1024, "a")
  let sent = 0
  return new Readable({
    read() {
      if (sent >= uploadBytes) return this.push(null)
      sent += chunk.length
      this.push(chunk)
    }
  })
}

const residentBytes = (pid: number) =>
  Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024

describe("request bodies against a process with the container's heap settings", () => {
  it.live(
    "4 uploads of 100 MB with a Content-Length and 4 chunked: each refused with 413, memory grows by less than 16 MB",
    () =>
      Effect.gen(function* () {
        const database = yield* freshDatabase
        const port = yield* freePort
        const api = yield* spawnProcess(process.execPath, ["--max-old-space-size=48", "src/Crebitos/main.ts"], {
          env: { DATABASE_URL: database.url, PORT: String(port), WARMUP_REQUESTS: "0" },
          ready: /Listening on/
        })
        const pid = api.child.pid ?? 0
        const baseline = residentBytes(pid)
        let peak = baseline
        const sampler = yield* Effect.forkChild(
          Effect.sync(() => {
            peak = Math.max(peak, residentBytes(pid))
          }).pipe(Effect.repeat(Schedule.spaced("20 millis")))
        )
        const upload = (withLength: boolean) =>
          rawRequest(port, {
            method: "POST",
            path: "/clientes/1/transacoes",
            headers: {
              "content-type": "application/json",
              ...(withLength ? { "content-length": String(uploadBytes) } : {})
            },
            body: hugeBody()
          })
        const answers = yield* Effect.all([true, true, true, true, false, false, false, false].map(upload), {
          concurrency: "unbounded"
        })
        yield* Fiber.interrupt(sampler)
        assert.deepStrictEqual(
          answers.map((answer) => answer.status),
          Array.from({ length: 8 }, () => 413)
        )
        assert.isBelow(
          peak - baseline,
          allowedGrowth,
          `RSS ${(baseline / megabytes).toFixed(1)} MB at start, ${(peak / megabytes).toFixed(1)} MB at its peak`
        )
        // And it still serves.
        const after = yield* rawRequest(port, { method: "GET", path: "/clientes/1/extrato" })
        assert.strictEqual(after.status, 200)
      }).pipe(Effect.scoped),
    60_000
  )
})
