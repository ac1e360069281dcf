/**
 * Payments' own metrics, recorded by the dispatch thread and served, with
 * the platform's, on the HTTP thread's METRICS_PORT (one endpoint per
 * process): the dispatch thread sends a snapshot of its registry every
 * `mirrorInterval`, and the HTTP thread registers each of its series with a
 * getter that answers the latest one (`mirror`). Off (no METRICS_PORT) the
 * recorder is inert: nothing on the dispatch path records anything.
 */

import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { seriesOf } from "../Platform/Observability.ts"
import { type ProcessorName, processorNames } from "./Domain.ts"
import type { SendOutcome } from "./Processors.ts"

/** How stale a scrape of the dispatch thread's series may be: well under Prometheus's 5 s scrape interval. */
export const mirrorInterval = "1 second"

const accepted = Metric.counter("payments_accepted_total", {
  description: "Payments taken for dispatch (a correlationId already on its way is not counted again)",
  incremental: true
})

const recorded = seriesOf((labels: { readonly processor: ProcessorName }) =>
  Metric.counter("payments_recorded_total", {
    description: "Payments recorded as held by a processor: what the summary counts",
    incremental: true,
    attributes: labels
  })
)

const outcomeLabels: Readonly<Record<SendOutcome["_tag"], string>> = {
  Accepted: "accepted",
  AlreadyHeld: "already_held",
  Refused: "refused",
  NoAnswer: "no_answer"
}

const requests = seriesOf((labels: { readonly processor: ProcessorName; readonly outcome: string }) =>
  Metric.counter("payments_processor_requests_total", {
    description:
      "Payments sent to a processor, by what it answered: accepted, already_held (422), refused (500, 429), no_answer (timeout, lost connection)",
    incremental: true,
    attributes: labels
  })
)

const healthCalls = seriesOf((labels: { readonly processor: ProcessorName; readonly result: string }) =>
  Metric.counter("payments_health_calls_total", {
    description: "Calls of a processor's health endpoint by this instance (after winning the shared claim), by result",
    incremental: true,
    attributes: labels
  })
)

const queued = Metric.gauge("payments_dispatch_queued", {
  description: "Accepted payments not recorded yet and not being sent: waiting for their turn or for a processor"
})

const inFlight = Metric.gauge("payments_dispatch_in_flight", {
  description: "Requests to the processors under way"
})

/** A registered series that is only ever read. */
const noHooks = { update: () => undefined, modify: () => undefined }

/** What the dispatch side records; with metrics off, nothing: no call adds work to a payment's path. */
export interface DispatchRecorder {
  readonly accepted: () => void
  /** A request to a processor: counted while under way, then by its outcome. */
  readonly sending: <E, R>(
    processor: ProcessorName,
    request: Effect.Effect<SendOutcome, E, R>
  ) => Effect.Effect<SendOutcome, E, R>
  readonly recorded: (processor: ProcessorName) => void
  readonly healthCall: (processor: ProcessorName, answered: boolean) => void
  /** Registers the gauges, read at each scrape (or snapshot): `unfinished` counts the payments not recorded yet. */
  readonly watch: (unfinished: () => number) => Effect.Effect<void>
}

const inert: DispatchRecorder = {
  accepted: () => undefined,
  sending: (_processor, request) => request,
  recorded: () => undefined,
  healthCall: () => undefined,
  watch: () => Effect.void
}

export const DispatchRecorder = Context.Reference<DispatchRecorder>("Payments/DispatchRecorder", {
  defaultValue: () => inert
})

/**
 * The recorder over the current metric registry (the dispatch thread's).
 * Every counter's series is there from the start, at 0, so that a rate over
 * the first payments (or over an outage's first refusals) has a point before them.
 */
export const makeRecorder = Effect.gen(function* () {
  const context = yield* Effect.context<never>()
  const series = [
    accepted,
    ...processorNames.flatMap((processor) => [
      recorded({ processor }),
      ...Object.values(outcomeLabels).map((outcome) => requests({ processor, outcome })),
      ...["answered", "failed"].map((result) => healthCalls({ processor, result }))
    ])
  ]
  for (const counter of series) yield* Metric.update(counter, 0)
  return makeRecording(context)
})

const makeRecording = (context: Context.Context<never>): DispatchRecorder => {
  let underWay = 0
  return {
    accepted: () => accepted.updateUnsafe(1, context),
    sending: (processor, request) =>
      Effect.suspend(() => {
        underWay++
        return request
      }).pipe(
        Effect.ensuring(Effect.sync(() => underWay--)),
        Effect.tap((outcome) =>
          Effect.sync(() => requests({ processor, outcome: outcomeLabels[outcome._tag] }).updateUnsafe(1, context))
        )
      ),
    recorded: (processor) => recorded({ processor }).updateUnsafe(1, context),
    healthCall: (processor, answered) =>
      healthCalls({ processor, result: answered ? "answered" : "failed" }).updateUnsafe(1, context),
    watch: (unfinished) =>
      Effect.sync(() => {
        Metric.registerUnsafe(queued, context, { get: () => ({ value: unfinished() - underWay }), ...noHooks })
        Metric.registerUnsafe(inFlight, context, { get: () => ({ value: underWay }), ...noHooks })
      })
  }
}

/** A series of the dispatch thread, as a snapshot of its registry carries it across. */
export type Series = Metric.Metric.Snapshot

const keyOf = (series: Series) => `${series.id}\n${JSON.stringify(series.attributes ?? {})}`

/** Registers `series` here, its state read from `latest` at every scrape; a type that cannot cross is left out. */
const register = (series: Series, latest: () => Series | undefined, context: Context.Context<never>) => {
  const options = { description: series.description, attributes: series.attributes ?? {} }
  switch (series.type) {
    case "Counter": {
      const current = (): Metric.CounterState<number> => {
        const state = latest()?.state
        const count = state !== undefined && "count" in state && typeof state.count === "number" ? state.count : 0
        return { count, incremental: true }
      }
      Metric.registerUnsafe(Metric.counter(series.id, { ...options, incremental: true }), context, {
        get: current,
        ...noHooks
      })
      return
    }
    case "Gauge": {
      const current = (): Metric.GaugeState<number> => {
        const state = latest()?.state
        return { value: state !== undefined && "value" in state && typeof state.value === "number" ? state.value : 0 }
      }
      Metric.registerUnsafe(Metric.gauge(series.id, options), context, { get: current, ...noHooks })
      return
    }
  }
}

/**
 * The HTTP thread's side: each series of the latest snapshot registered in
 * this thread's registry (once), its getter answering the latest state.
 * Only counters and gauges cross: every Payments record is one.
 */
export const mirror = Effect.map(Effect.context<never>(), (context) => {
  const latest = new Map<string, Series>()
  return (snapshot: ReadonlyArray<Series>) => {
    for (const series of snapshot) {
      const key = keyOf(series)
      if (!latest.has(key)) register(series, () => latest.get(key), context)
      latest.set(key, series)
    }
  }
})
