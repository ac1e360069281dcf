import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { freePort } from "../../local/Processes.ts"
import { type Scrape, scrape, seriesValue } from "../support/Metrics.ts"
import { OtlpReceiver, receivedSpans, SpanKind } from "../support/Otlp.ts"
import {
  dispatchModes,
  environment,
  eventually,
  instance,
  live,
  newPayment,
  pay,
  setConditions
} from "../support/Payments.ts"

const value = (scraped: Scrape, name: string, labels: Readonly<Record<string, string>> = {}) =>
  seriesValue(scraped, name, labels)

describe.each(dispatchModes)("Payments metrics and traces, $name", (mode) => {
  it.live("the dispatch series, on METRICS_PORT, exist before traffic and move with it", () =>
    live(
      Effect.gen(function* () {
        const env = yield* environment()
        const port = yield* freePort
        const service = yield* instance(env, { ...mode.env, METRICS_PORT: String(port) })
        const hasGauges = (scraped: Scrape) =>
          scraped.samples.some((sample) => sample.name === "payments_dispatch_queued") &&
          scraped.samples.some((sample) => sample.name === "payments_dispatch_in_flight")
        const before = yield* eventually(scrape(port), hasGauges)
        assert.isTrue(hasGauges(before), "the gauges, from the dispatch thread's first snapshot")
        assert.strictEqual(value(before, "payments_dispatch_queued"), 0)
        assert.strictEqual(value(before, "payments_accepted_total"), 0)

        yield* Effect.forEach(
          Array.from({ length: 10 }, () => newPayment()),
          (payment) => pay(service, payment),
          {
            discard: true
          }
        )
        yield* eventually(scrape(port), (scraped) => value(scraped, "payments_recorded_total") === 10)
        // Default refuses the next ten: they wait (queued, or one being sent as a probe) until it is back.
        yield* setConditions(env.processorDefault, 0, true)
        yield* Effect.forEach(
          Array.from({ length: 10 }, () => newPayment()),
          (payment) => pay(service, payment),
          {
            discard: true
          }
        )
        const unfinished = (scraped: Scrape) =>
          value(scraped, "payments_dispatch_queued") + value(scraped, "payments_dispatch_in_flight")
        const waiting = yield* eventually(
          scrape(port),
          (scraped) =>
            unfinished(scraped) === 10 &&
            value(scraped, "payments_processor_requests_total", { processor: "default", outcome: "refused" }) >= 1
        )
        assert.strictEqual(unfinished(waiting), 10)
        assert.isAtLeast(value(waiting, "payments_dispatch_queued"), 9)
        assert.isAtLeast(
          value(waiting, "payments_processor_requests_total", { processor: "default", outcome: "refused" }),
          1
        )

        yield* setConditions(env.processorDefault, 0, false)
        const after = yield* eventually(
          scrape(port),
          (scraped) => value(scraped, "payments_recorded_total", { processor: "default" }) === 20
        )
        assert.strictEqual(value(after, "payments_accepted_total"), 20)
        assert.strictEqual(value(after, "payments_recorded_total", { processor: "default" }), 20)
        assert.strictEqual(value(after, "payments_recorded_total", { processor: "fallback" }), 0)
        assert.strictEqual(
          value(after, "payments_processor_requests_total", { processor: "default", outcome: "accepted" }),
          20
        )
        assert.strictEqual(value(after, "payments_dispatch_queued"), 0)
        assert.strictEqual(value(after, "payments_dispatch_in_flight"), 0)
        assert.isAtLeast(value(after, "payments_health_calls_total", { processor: "default", result: "answered" }), 1)
        // The platform's own series share the endpoint.
        assert.isAtLeast(
          value(after, "http_server_request_duration_seconds_count", { route: "/payments", status: "202" }),
          20
        )
        assert.strictEqual(after.types.get("payments_processor_requests_total"), "counter")
        assert.strictEqual(after.types.get("payments_dispatch_queued"), "gauge")
      })
    )
  )

  it.live("a payment's dispatch is a trace of its own, linked to the request's span", () =>
    live(
      Effect.gen(function* () {
        const receiver = Context.get(yield* Layer.build(OtlpReceiver.layer), OtlpReceiver)
        const env = yield* environment()
        const service = yield* instance(env, {
          ...mode.env,
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
          OTEL_BSP_SCHEDULE_DELAY: "50"
        })
        yield* pay(service, newPayment())
        const found = yield* eventually(
          Effect.sync(() => receivedSpans(receiver.exports)),
          (spans) =>
            spans.some((span) => span.kind === SpanKind.server) &&
            spans.some((span) => span.name === "Payments.dispatch")
        )
        const request = found.find((span) => span.kind === SpanKind.server)
        const dispatch = found.find((span) => span.name === "Payments.dispatch")
        assert.isDefined(request)
        assert.isDefined(dispatch)
        if (request === undefined || dispatch === undefined) return
        assert.notStrictEqual(dispatch.traceId, request.traceId, "a trace of its own")
        assert.isUndefined(dispatch.parentSpanId)
        assert.strictEqual(dispatch.kind, SpanKind.consumer)
        assert.deepStrictEqual(dispatch.links, [{ traceId: request.traceId, spanId: request.spanId }])
        const sends = found.filter((span) => span.parentSpanId === dispatch.spanId && span.name === "Processors.send")
        assert.strictEqual(sends.length, 1, "the request to the processor, under the dispatch")
      })
    )
  )
})
