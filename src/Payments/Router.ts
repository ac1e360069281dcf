import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { type ProcessorName, processorNames } from "./Domain.ts"
import { Processors, type SendOutcome } from "./Processors.ts"
import { Store } from "./Store.ts"

const RouterConfig = Config.all({
  /**
   * How long a payment waits for `default` before `fallback` may take it.
   * `default` keeps 95% of an amount and `fallback` 85%, so moving a payment
   * only pays when `default` would otherwise not process it before the
   * payments are counted; README ("Routing policy") has the measurements.
   */
  fallbackAfter: Config.Duration("FALLBACK_AFTER").pipe(Config.withDefault("10 seconds")),
  /** How often a suspect processor gets one real payment as a probe. */
  probeInterval: Config.Duration("PROBE_INTERVAL").pipe(Config.withDefault("250 millis")),
  /** How often each instance reads the shared health of the processors. */
  healthPoll: Config.Duration("HEALTH_POLL").pipe(Config.withDefault("1 second")),
  /**
   * The least time between two calls to one processor's health endpoint,
   * over all instances: its limit is one call per 5 s, and a margin keeps
   * network jitter from making two calls look closer than that.
   */
  healthCallInterval: Config.Duration("HEALTH_CALL_INTERVAL").pipe(Config.withDefault("5500 millis"))
})

/** A shared health report older than this says nothing about now. */
const staleHealthMs = 15_000

/**
 * What this instance believes about one processor.
 * `suspect`: an error, a timeout or the shared health check said it fails;
 * until a request succeeds again only one probe at a time goes to it.
 */
interface ProcessorState {
  suspect: boolean
  /** When a real request last told something (ms): an older health report is ignored. */
  observedAt: number
  nextProbeAt: number
  probing: boolean
}

/** Where one attempt goes, and whether it is the probe of a suspect processor. */
export interface Route {
  readonly processor: ProcessorName
  readonly probe: boolean
}

/** A payment as the router sees it. */
export interface Routable {
  readonly acceptedAt: number
  /** A processor that may already hold this payment: the only one it may go to. */
  readonly pinnedTo: Option.Option<ProcessorName>
}

/**
 * Chooses a processor for each attempt. `default` whenever it works;
 * `fallback` only for a payment that has waited `FALLBACK_AFTER`; otherwise
 * the payment waits. What "works" means comes from two sources: passive
 * (every answer, error and timeout of a real payment) and active (the
 * processors' health endpoint, called by one instance at a time through
 * PostgreSQL so that all instances together respect its rate limit).
 */
export class Router extends Context.Service<Router>()("Payments/Router", {
  make: Effect.gen(function* () {
    const config = yield* RouterConfig
    const processors = yield* Processors
    const store = yield* Store
    const probeIntervalMs = Duration.toMillis(config.probeInterval)
    const fallbackAfterMs = Duration.toMillis(config.fallbackAfter)
    const states: Record<ProcessorName, ProcessorState> = {
      default: { suspect: false, observedAt: 0, nextProbeAt: 0, probing: false },
      fallback: { suspect: false, observedAt: 0, nextProbeAt: 0, probing: false }
    }

    const admit = (processor: ProcessorName, now: number): Option.Option<Route> => {
      const state = states[processor]
      if (!state.suspect) return Option.some({ processor, probe: false })
      if (state.probing || now < state.nextProbeAt) return Option.none()
      state.probing = true
      return Option.some({ processor, probe: true })
    }

    /**
     * Where the payment's next attempt goes, or none: it waits. While
     * `default` is suspect, a payment that may use `fallback` does, and the
     * others take turns probing `default`.
     */
    const route = (payment: Routable): Option.Option<Route> => {
      const now = Date.now()
      if (Option.isSome(payment.pinnedTo)) return admit(payment.pinnedTo.value, now)
      if (!states.default.suspect) return Option.some({ processor: "default", probe: false })
      if (now - payment.acceptedAt >= fallbackAfterMs && !states.fallback.suspect) {
        return Option.some({ processor: "fallback", probe: false })
      }
      return admit("default", now)
    }

    const markFailing = (state: ProcessorState, now: number) => {
      state.suspect = true
      state.nextProbeAt = now + probeIntervalMs
    }

    /** The passive signal: what a real request to the processor said. */
    const observe = (route: Route, outcome: SendOutcome) => {
      const state = states[route.processor]
      if (route.probe) state.probing = false
      const now = Date.now()
      state.observedAt = now
      if (outcome._tag === "Refused" || outcome._tag === "Unknown") markFailing(state, now)
      else state.suspect = false
    }

    /** The active signal, shared by all instances through PostgreSQL. */
    const refresh = Effect.fn("Router.refresh")(function* (processor: ProcessorName) {
      const shared = yield* store.pollHealth(processor, Duration.toMillis(config.healthCallInterval))
      const health = shared.claimed
        ? yield* processors.health(processor).pipe(
            Effect.tap((fresh) => store.reportHealth(processor, fresh.failing, fresh.minResponseTime)),
            Effect.map((fresh) => ({ failing: fresh.failing, ageMs: 0 })),
            Effect.catch(() => Effect.succeed({ failing: shared.failing, ageMs: shared.age_ms }))
          )
        : { failing: shared.failing, ageMs: shared.age_ms }
      const state = states[processor]
      const now = Date.now()
      // Only news counts: a report older than what real requests said since is history.
      if (health.ageMs > staleHealthMs || now - health.ageMs <= state.observedAt) return
      if (!health.failing) state.suspect = false
      else if (!state.suspect) markFailing(state, now)
    })

    const monitor = Effect.forEach(processorNames, (processor) => refresh(processor).pipe(Effect.ignoreCause), {
      concurrency: "unbounded",
      discard: true
    }).pipe(Effect.repeat(Schedule.spaced(config.healthPoll)))

    return { route, observe, monitor } as const
  })
}) {
  static readonly layer = Layer.effect(this, this.make)
}
