import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import { type ProcessorName, processorNames } from "./Domain.ts"
import { HealthReports } from "./HealthReports.ts"
import { DispatchRecorder } from "./Metrics.ts"
import * as Policy from "./Policy.ts"
import { Processors, type SendOutcome } from "./Processors.ts"

const HealthConfig = Config.all({
  /** See `Policy.PolicyConfig`; docs/payments.md has the measurements behind the default. */
  fallbackAfter: Config.Duration("FALLBACK_AFTER").pipe(Config.withDefault("10 seconds")),
  probeInterval: Config.Duration("PROBE_INTERVAL").pipe(Config.withDefault("250 millis")),
  /** How often each instance reads the shared health of the processors. */
  healthPoll: Config.Duration("HEALTH_POLL").pipe(Config.withDefault("1 second"))
})

/**
 * What this instance believes about each processor, and so where each
 * attempt goes (the rules: Policy.ts). Two signals feed it: passive, every
 * answer, error and timeout of a real payment; active, the processors'
 * health endpoint as all instances share it (HealthReports), read every
 * HEALTH_POLL and called by whichever instance wins the claim.
 */
export class ProcessorHealth extends Context.Service<ProcessorHealth>()("Payments/ProcessorHealth", {
  make: Effect.gen(function* () {
    const config = yield* HealthConfig
    const processors = yield* Processors
    const reports = yield* HealthReports
    const recorder = yield* DispatchRecorder
    const policy: Policy.PolicyConfig = {
      fallbackAfterMs: Duration.toMillis(config.fallbackAfter),
      probeIntervalMs: Duration.toMillis(config.probeInterval)
    }
    const state = yield* Ref.make(Policy.initialState)

    // route and observe run for every attempt of every payment: untraced,
    // because Effect.fn captures a stack trace at each call, which a CPU
    // profile of the dispatcher showed as its largest cost.

    /** Where a payment's next attempt goes; a probe is taken until its answer is observed. */
    const route = Effect.fnUntraced(function* (payment: Policy.Routable) {
      const now = yield* Clock.currentTimeMillis
      return yield* Ref.modify(state, (current) => Policy.route(current, payment, now, policy))
    })

    /** The passive signal: what a real request to the processor answered. */
    const observe = Effect.fnUntraced(function* (destination: Policy.Destination, outcome: SendOutcome) {
      const now = yield* Clock.currentTimeMillis
      yield* Ref.update(state, (current) => Policy.observe(current, destination, outcome, now, policy))
    })

    /** The shared report, refreshed first by calling the endpoint when this instance won the claim. */
    const refresh = Effect.fn("ProcessorHealth.refresh")(function* (processor: ProcessorName) {
      const shared = yield* reports.poll(processor)
      const report = shared.claimed
        ? yield* processors.health(processor).pipe(
            Effect.tapError(() => Effect.sync(() => recorder.healthCall(processor, false))),
            Effect.tap(() => Effect.sync(() => recorder.healthCall(processor, true))),
            Effect.tap((fresh) => reports.publish(processor, fresh)),
            Effect.map((fresh): Policy.HealthReport => ({ failing: fresh.failing, ageMs: 0 })),
            Effect.catch(() => Effect.succeed(shared.report))
          )
        : shared.report
      const now = yield* Clock.currentTimeMillis
      yield* Ref.update(state, (current) => Policy.report(current, processor, report, now, policy))
    })

    // A database or processor that cannot answer now is asked again at the next turn.
    yield* Effect.forEach(processorNames, (processor) => Effect.ignoreCause(refresh(processor)), {
      concurrency: "unbounded",
      discard: true
    }).pipe(Effect.repeat(Schedule.spaced(config.healthPoll)), Effect.forkScoped)

    return { route, observe } as const
  })
}) {
  static readonly layer = Layer.effect(this, this.make)
}
