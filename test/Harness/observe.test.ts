import { execFile } from "node:child_process"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { exited, freePort, listening, signalGroup, spawnProcess } from "../../local/Processes.ts"
import * as Prometheus from "../../scripts/lib/Prometheus.ts"

const services = [
  {
    service: "crebitos",
    command: "npm run stack -- --observe",
    path: "/clientes/1/extrato",
    route: "/clientes/:id/extrato"
  },
  {
    service: "payments",
    command: "npm run stack:payments -- --observe",
    path: "/payments-summary",
    route: "/payments-summary"
  }
] as const

const instances = ["api01", "api02"]

/** What Prometheus holds now for `query`, per instance: the last point of a one-instant range. */
const latest = (prometheus: string, query: string) =>
  Effect.gen(function* () {
    const now = Date.now()
    const series = yield* Prometheus.queryRange(
      prometheus,
      query,
      { start: now, end: now },
      Prometheus.defaultScrapeSeconds
    )
    return new Map(series.map((one) => [one.metric.instance ?? "", one.values.at(-1)?.[1] ?? Number.NaN]))
  })

/** Asks until `done` holds of the answer, every 200 ms for at most 15 s. */
const awaitAnswer = (prometheus: string, query: string, done: (answer: ReadonlyMap<string, number>) => boolean) =>
  latest(prometheus, query).pipe(
    Effect.repeat({ schedule: Schedule.spaced("200 millis"), until: done, times: 75 }),
    Effect.filterOrFail(done, (answer) => new Error(`${query} never got there: ${JSON.stringify([...answer])}`))
  )

/** `scripts/stack.ts` with `args`, started, and the address of the Prometheus it says it started. */
const startObservedStack = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const stack = yield* spawnProcess(process.execPath, ["scripts/stack.ts", ...args], { ready: /Ctrl-C to stop/ })
    const prometheus = /prometheus \(uncapped\) (http:\/\/127\.0\.0\.1:\d+)/.exec(stack.output())?.[1]
    if (prometheus === undefined) return yield* Effect.die(new Error(`no Prometheus in: ${stack.output()}`))
    return { stack, prometheus }
  })

describe.each(services)("$command", ({ path, route, service }) => {
  it.live(
    "runs Prometheus, which scrapes both APIs: the request counter moves with traffic; Ctrl-C stops it",
    () =>
      Effect.gen(function* () {
        const port = yield* freePort
        const { stack, prometheus } = yield* startObservedStack([
          "--service",
          service,
          "--port",
          String(port),
          "--processor-ports",
          "0,0",
          "--observe"
        ])
        yield* awaitAnswer(prometheus, 'up{job="api"}', (up) => instances.every((name) => up.get(name) === 1))
        const counted = `sum by (instance) (http_server_request_duration_seconds_count{route="${route}"})`
        const before = yield* latest(prometheus, counted)
        // nginx round-robins: ten to each instance.
        for (let request = 0; request < 20; request++) {
          const response = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}${path}`))
          assert.strictEqual(response.status, 200)
        }
        yield* awaitAnswer(prometheus, counted, (now) =>
          instances.every((name) => (now.get(name) ?? 0) >= (before.get(name) ?? 0) + 10)
        )

        yield* signalGroup(stack.child, "SIGINT")
        yield* exited(stack.child)
        const prometheusPort = Number(new URL(prometheus).port)
        assert.isTrue(
          yield* listening(prometheusPort).pipe(Effect.match({ onSuccess: () => false, onFailure: () => true })),
          "Prometheus stopped with the stack"
        )
      }).pipe(Effect.scoped),
    120_000
  )
})

describe("npm run stack -- --observe-only", () => {
  it.live(
    "turns metrics on in the named API alone: Prometheus scrapes api01, and api02 exports nothing",
    () =>
      Effect.gen(function* () {
        const port = yield* freePort
        const { stack, prometheus } = yield* startObservedStack(["--port", String(port), "--observe-only", "api01"])
        const up = yield* awaitAnswer(prometheus, 'up{job="api"}', (up) => up.get("api01") === 1)
        assert.deepStrictEqual([...up.keys()], ["api01"])
        assert.match(stack.output(), /scraping the metrics of api01\n/)
      }).pipe(Effect.scoped),
    120_000
  )

  it.live("refuses an API the compose file does not have, before starting anything", () =>
    Effect.gen(function* () {
      // runMain logs the failure on stdout.
      const run = yield* Effect.callback<{ readonly failed: boolean; readonly output: string }>((resume) => {
        execFile(
          process.execPath,
          ["scripts/stack.ts", "--port", "0", "--observe-only", "api03"],
          (error, stdout, stderr) => resume(Effect.succeed({ failed: error !== null, output: stdout + stderr }))
        )
      })
      assert.isTrue(run.failed)
      assert.match(run.output, /no API named api03 in .*docker-compose\.yml/)
      assert.notMatch(run.output, /Listening on|Ctrl-C to stop/)
    })
  )
})
