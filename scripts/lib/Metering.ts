/**
 * What each service of a stack used while something ran (a k6 script, the
 * fault suite's load): CPU seconds and throttling from its cgroup, and its
 * peak memory, sampled every half second.
 */

import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import type { ServiceReport } from "./Report.ts"
import type { RunningService } from "./Stack.ts"

/** Highest memory each service reached, sampled every half second until interrupted. */
const sampleMemory = (services: ReadonlyArray<RunningService>, peaks: Map<string, number>) =>
  Effect.forEach(services, (service) =>
    service.usage.pipe(
      Effect.map((usage) => peaks.set(service.name, Math.max(peaks.get(service.name) ?? 0, usage.rssBytes)))
    )
  ).pipe(Effect.repeat(Schedule.spaced("500 millis")))

/** Runs `work` and reports what each service used meanwhile, and how long it took. */
export const during = <A, E, R>(services: ReadonlyArray<RunningService>, work: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const peaks = new Map<string, number>()
    const sampler = yield* Effect.forkChild(sampleMemory(services, peaks))
    const starts = yield* Effect.forEach(services, (service) =>
      Effect.map(service.usage, (start) => ({ service, start }))
    )
    const startedAt = yield* Clock.currentTimeMillis
    const result = yield* work
    const seconds = ((yield* Clock.currentTimeMillis) - startedAt) / 1000
    const reports = yield* Effect.forEach(starts, ({ service, start }) =>
      Effect.map(
        service.usage,
        (end): ServiceReport => ({
          name: service.name,
          limit: service.limit,
          capped: service.capped,
          seconds,
          cpuSeconds: end.cpuSeconds - start.cpuSeconds,
          peakRssBytes: peaks.get(service.name) ?? end.rssBytes,
          peakChargedBytes: end.peakChargedBytes,
          throttledPeriods: end.throttledPeriods - start.throttledPeriods
        })
      )
    )
    yield* Fiber.interrupt(sampler)
    return { result, seconds, services: reports }
  })
