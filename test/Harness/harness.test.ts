// biome-ignore-all lint/suspicious/noTemplateCurlyInString: compose's ${NAME} syntax is what these tests are about
import { resolve } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { restartDelayMillis } from "../../local/Processes.ts"
import * as Compose from "../../scripts/lib/Compose.ts"
import * as Contest from "../../scripts/lib/Contest.ts"
import * as Nginx from "../../scripts/lib/Nginx.ts"
import * as Options from "../../scripts/lib/Options.ts"
import * as Prometheus from "../../scripts/lib/Prometheus.ts"
import * as Samples from "../../scripts/lib/Samples.ts"
import * as Stack from "../../scripts/lib/Stack.ts"
import * as Traffic from "../../scripts/lib/Traffic.ts"

describe("compose reading", () => {
  it("substitutes ${NAME:-default} and ${NAME} as compose does", () => {
    assert.strictEqual(Compose.interpolate("pg-${PG_PROFILE:-contest}.conf", {}), "pg-contest.conf")
    assert.strictEqual(Compose.interpolate("pg-${PG_PROFILE:-contest}.conf", { PG_PROFILE: "" }), "pg-contest.conf")
    assert.strictEqual(
      Compose.interpolate("pg-${PG_PROFILE:-contest}.conf", { PG_PROFILE: "durable" }),
      "pg-durable.conf"
    )
    assert.strictEqual(Compose.interpolate("${A}/${B:-b}", { A: "a" }), "a/b")
  })

  it("reads memory limits the way Docker does (MB is MiB)", () => {
    assert.strictEqual(Compose.parseMemory("130MB"), 130 * 2 ** 20)
    assert.strictEqual(Compose.parseMemory("1.5GB"), 1.5 * 2 ** 30)
    assert.strictEqual(Compose.parseMemory("512k"), 512 * 2 ** 10)
    assert.throws(() => Compose.parseMemory("lots"))
  })

  it("reads postgresql.conf settings without quotes or comments", () => {
    assert.deepStrictEqual(Compose.parsePostgresConf("# c\nfsync = off # why\nlisten_addresses = '*'\n\n"), {
      fsync: "off",
      listen_addresses: "*"
    })
  })
})

describe("latency statistics", () => {
  const sample = (ms: number, scenario = "s", expected = true, second = 0): Samples.Sample => ({
    ms,
    scenario,
    expected,
    second
  })

  it("percentiles are nearest-rank over the sorted latencies", () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1)
    assert.strictEqual(Samples.percentile(sorted, 0.5), 50)
    assert.strictEqual(Samples.percentile(sorted, 0.99), 99)
    assert.strictEqual(Samples.percentile(sorted, 1), 100)
    assert.strictEqual(Samples.percentile([], 0.5), 0)
  })

  it("counts KO and the contest's 'good' (expected status under 250 ms)", () => {
    const stats = Samples.stats([sample(1), sample(300), sample(2, "s", false), sample(3)])
    assert.strictEqual(stats.requests, 4)
    assert.strictEqual(stats.ko, 1)
    assert.strictEqual(stats.goodPct, 50)
    assert.strictEqual(stats.max, 300)
  })

  it("groups by scenario and by second", () => {
    const samples = [sample(1, "a", true, 10), sample(5, "b", true, 10), sample(9, "a", false, 12)]
    assert.deepStrictEqual(Object.keys(Samples.byScenario(samples)).sort(), ["a", "b"])
    assert.deepStrictEqual(
      Samples.timeline(samples).map(({ ko, requests, second }) => ({ second, requests, ko })),
      [
        { second: 10, requests: 2, ko: 0 },
        { second: 12, requests: 1, ko: 1 }
      ]
    )
  })
})

describe("restarts, as Docker's restart policy spaces them", () => {
  it("100 ms at first, doubled while the process keeps dying within 10 s, back to 100 ms after a longer run", () => {
    assert.strictEqual(restartDelayMillis(undefined, 50), 100)
    assert.strictEqual(restartDelayMillis(100, 2_000), 200)
    assert.strictEqual(restartDelayMillis(200, 0), 400)
    assert.strictEqual(restartDelayMillis(400, 10_000), 100)
    assert.strictEqual(restartDelayMillis(40_000, 0), 60_000)
  })
})

describe("the fault suite's steady load", () => {
  it("sends on time whatever the answers: what is due at each instant, minus what left", () => {
    assert.strictEqual(Traffic.due(150, 0, 0), 0)
    assert.strictEqual(Traffic.due(150, 1000, 0), 150)
    assert.strictEqual(Traffic.due(150, 1000, 149), 1)
    assert.strictEqual(Traffic.due(150, 10, 1), 0)
    // Late ticks catch up at once rather than lowering the rate.
    assert.strictEqual(Traffic.due(100, 2500, 100), 150)
  })
})

describe("nginx for the stack", () => {
  const conf =
    "http {\n    access_log off;\n    upstream api {\n        server api01:8080 max_fails=1 fail_timeout=2s;\n        server api02:8080;\n    }\n    server { listen 9999; }\n}\n"

  it("points each upstream at its local port, keeping its parameters, and listens where asked", () => {
    const local = Nginx.localConfig(conf, { api01: 18081, api02: 18082 }, 19999)
    assert.include(local, "server 127.0.0.1:18081 max_fails=1 fail_timeout=2s;")
    assert.include(local, "server 127.0.0.1:18082;")
    assert.include(local, "listen 19999;")
    assert.include(local, "access_log off;")
    assert.throws(() => Nginx.localConfig(conf, { api01: 18081 }, 19999))
  })

  it("logs which instance answered each request when asked, and reads that log back", () => {
    const local = Nginx.localConfig(conf, { api01: 18081, api02: 18082 }, 19999, "/tmp/upstreams.log")
    assert.notInclude(local, "access_log off;")
    assert.include(local, "access_log /tmp/upstreams.log upstreams;")
    assert.deepStrictEqual(
      Nginx.parseUpstreamLog(
        "1700000000.123 127.0.0.1:18081 200\n1700000000.5 127.0.0.1:18081, 127.0.0.1:18082 200\n\n"
      ),
      [
        { at: 1_700_000_000_123, port: 18081, status: 200 },
        { at: 1_700_000_000_500, port: 18082, status: 200 }
      ]
    )
  })
})

describe("--observe's scrape interval", () => {
  const compose =
    'global:\n  scrape_interval: 5s\nscrape_configs:\n  - job_name: api\n    static_configs:\n      - targets: ["api01:9464"]\n'

  it("sets Prometheus's scrape, the APIs' runtime sample and the panels' rate window together", () => {
    const local = JSON.parse(Prometheus.localConfig(compose, { api01: 19464 }, 5))
    assert.deepStrictEqual(local.global, { scrape_interval: "5s", evaluation_interval: "5s" })
    assert.deepStrictEqual(local.scrape_configs[0].static_configs, [
      { targets: ["127.0.0.1:19464"], labels: { instance: "api01" } }
    ])
    assert.strictEqual(Prometheus.sampleIntervalOf(5), "5 seconds")
    for (const [seconds, window] of [
      [1, "[5s]"],
      [5, "[25s]"]
    ] as const) {
      const rates = Prometheus.panelsOf("crebitos", seconds).filter((panel) => panel.query.includes("rate("))
      assert.isNotEmpty(rates)
      for (const panel of rates) assert.include(panel.query, window, panel.title)
    }
  })

  it("leaves out the APIs running with metrics off (--observe-only), and refuses any other it has no port for", () => {
    const both = compose.replace('["api01:9464"]', '["api01:9464", "api02:9464"]')
    const local = JSON.parse(Prometheus.localConfig(both, { api01: 19464 }, 5, ["api02"]))
    assert.deepStrictEqual(local.scrape_configs[0].static_configs, [
      { targets: ["127.0.0.1:19464"], labels: { instance: "api01" } }
    ])
    assert.throws(() => Prometheus.localConfig(both, { api01: 19464 }, 5), /scrapes api02/)
    assert.strictEqual(Contest.observedText(["api01"], 5), "metrics on in api01 only, scraped every 5 s")
    assert.strictEqual(Contest.observedText(undefined, 1), "metrics on, scraped every 1 s")
  })

  it("takes whole seconds from 1 to 60", () => {
    assert.strictEqual(Options.scrapeSeconds("5"), 5)
    for (const refused of ["0", "1.5", "61", "five"])
      assert.throws(() => Options.scrapeSeconds(refused), /--scrape-interval/)
  })
})

describe("--api-entry: one API running another build", () => {
  const bundle = "scripts/floor/crebitos.ts"

  it("names an API and a file that exists, resolved from where the command runs", () => {
    const entries = Options.apiEntries([`api01=${bundle}`])
    assert.deepStrictEqual(entries, { api01: resolve(bundle) })
    assert.strictEqual(Options.apiEntriesText(entries), `api01 ran ${resolve(bundle)}`)
    assert.throws(() => Options.apiEntries([bundle]), /api01=<file>/)
    assert.throws(() => Options.apiEntries(["api01=/nowhere/crebitos.mjs"]), /no such file/)
  })

  it("changes what that API runs, and only that one", () => {
    const options = { service: "crebitos", apiEntries: { api01: "/elsewhere/crebitos.mjs" } } as const
    assert.strictEqual(Stack.apiEntry(options, "api01"), "/elsewhere/crebitos.mjs")
    assert.match(Stack.apiEntry(options, "api02"), /dist\/crebitos\.mjs$/)
  })

  it.live("an API the compose file does not have: the stack refuses before starting anything", () =>
    Effect.gen(function* () {
      const refused = yield* Stack.up({
        service: "crebitos",
        pgProfile: "contest",
        port: 0,
        verbose: false,
        apiEntries: { api03: resolve(bundle) }
      }).pipe(Effect.flip, Effect.scoped)
      assert.match(refused.message, /no API named api03/)
    })
  )
})
