/**
 * The routing policy as pure functions: where an attempt goes, what an
 * answer teaches about a processor and means for the payment. No I/O and no
 * clock — `now` (epoch ms) is an argument — so each rule is tested with
 * plain values (test/Payments/policy.test.ts). The services around it:
 * ProcessorHealth holds the state, Dispatcher acts on the decisions.
 */
import * as Data from "effect/Data"
import type * as DateTime from "effect/DateTime"
import * as Option from "effect/Option"
import { type PendingPayment, type ProcessorName, processorNames, type Sent } from "./Domain.ts"
import type { SendOutcome } from "./Processors.ts"

export interface PolicyConfig {
  /**
   * How long a payment waits for `default` before `fallback` may take it.
   * `default` keeps 95% of an amount and `fallback` 85%, so moving a payment
   * only pays when `default` would otherwise not process it before the
   * payments are counted (docs/payments.md, "Routing policy").
   */
  readonly fallbackAfterMs: number
  /** How often a suspect processor gets one real payment as a probe. */
  readonly probeIntervalMs: number
}

/** A shared health report older than this says nothing about now. */
export const staleReportMs = 15_000

/**
 * What this instance believes about one processor. `suspect`: a real request
 * failed, timed out, or the shared health check said it fails; until a
 * request succeeds again, one probe at a time goes to it, one per
 * PROBE_INTERVAL after the last failure.
 */
export interface ProcessorState {
  readonly suspect: boolean
  /** When a real request last told something: a health report from before it is history. */
  readonly observedAt: number
  readonly nextProbeAt: number
  readonly probing: boolean
}

export type HealthState = Readonly<Record<ProcessorName, ProcessorState>>

const healthy: ProcessorState = { suspect: false, observedAt: Number.NEGATIVE_INFINITY, nextProbeAt: 0, probing: false }

/** Both processors trusted until something says otherwise. */
export const initialState: HealthState = { default: healthy, fallback: healthy }

/** Where one attempt goes: a processor believed to work, a probe of a suspect one, or nowhere yet. */
export type Route = Data.TaggedEnum<{
  Send: { readonly processor: ProcessorName }
  Probe: { readonly processor: ProcessorName }
  Wait: Record<never, never>
}>
export const Route = Data.taggedEnum<Route>()
export type Destination = Exclude<Route, { readonly _tag: "Wait" }>

const wait = Route.Wait()
const sendTo: Record<ProcessorName, Route> = {
  default: Route.Send({ processor: "default" }),
  fallback: Route.Send({ processor: "fallback" })
}

/** A payment as the router sees it. */
export interface Routable {
  /** When it was accepted (or taken back after a restart). */
  readonly acceptedAt: number
  /** A processor that may already hold it: the only one it may go to. */
  readonly pinnedTo: Option.Option<ProcessorName>
}

const withProcessor = (state: HealthState, processor: ProcessorName, next: ProcessorState): HealthState =>
  processor === "default" ? { default: next, fallback: state.fallback } : { default: state.default, fallback: next }

/** `processor` if it is trusted, a probe if one is due, otherwise wait. */
const admit = (state: HealthState, processor: ProcessorName, now: number): readonly [Route, HealthState] => {
  const current = state[processor]
  if (!current.suspect) return [sendTo[processor], state]
  if (current.probing || now < current.nextProbeAt) return [wait, state]
  return [Route.Probe({ processor }), withProcessor(state, processor, { ...current, probing: true })]
}

/**
 * Where a payment's next attempt goes. `default` whenever it is trusted; a
 * pinned payment only to its processor; otherwise `fallback` once the
 * payment has waited FALLBACK_AFTER and `fallback` is trusted; otherwise a
 * probe of `default` when one is due, or wait.
 */
export const route = (
  state: HealthState,
  payment: Routable,
  now: number,
  config: PolicyConfig
): readonly [Route, HealthState] => {
  if (Option.isSome(payment.pinnedTo)) return admit(state, payment.pinnedTo.value, now)
  if (!state.default.suspect) return [sendTo.default, state]
  if (now - payment.acceptedAt >= config.fallbackAfterMs && !state.fallback.suspect) return [sendTo.fallback, state]
  return admit(state, "default", now)
}

const failing = (current: ProcessorState, now: number, config: PolicyConfig): ProcessorState => ({
  ...current,
  suspect: true,
  nextProbeAt: now + config.probeIntervalMs
})

/**
 * The passive signal: what a real request said. Any answer that is not a
 * refusal clears suspicion; a refusal (500, 429) or no answer makes the
 * processor suspect. A probe's answer frees the probe.
 */
export const observe = (
  state: HealthState,
  destination: Destination,
  outcome: SendOutcome,
  now: number,
  config: PolicyConfig
): HealthState => {
  const { processor } = destination
  const current = state[processor]
  const observed = { ...current, observedAt: now, probing: destination._tag === "Probe" ? false : current.probing }
  const failed = outcome._tag === "Refused" || outcome._tag === "NoAnswer"
  return withProcessor(state, processor, failed ? failing(observed, now, config) : { ...observed, suspect: false })
}

/** What the processors' health endpoint said, as shared by the instances. */
export interface HealthReport {
  readonly failing: boolean
  /** How long ago it was asked. */
  readonly ageMs: number
}

/**
 * The active signal, shared by all instances. Only news counts: a report
 * older than staleReportMs, or older than what a real request said since, is
 * ignored. A failing report makes a trusted processor suspect (and its probe
 * due one PROBE_INTERVAL later); a healthy one clears suspicion.
 */
export const report = (
  state: HealthState,
  processor: ProcessorName,
  health: HealthReport,
  now: number,
  config: PolicyConfig
): HealthState => {
  const current = state[processor]
  if (health.ageMs > staleReportMs || now - health.ageMs <= current.observedAt) return state
  if (!health.failing) return current.suspect ? withProcessor(state, processor, { ...current, suspect: false }) : state
  return current.suspect ? state : withProcessor(state, processor, failing(current, now, config))
}

/** An accepted payment as the dispatcher carries it between attempts. */
export interface Dispatch extends PendingPayment {
  /** When it was accepted, or taken back after a restart: FALLBACK_AFTER counts from here. */
  readonly acceptedAt: number
  /**
   * Taken back after a restart without a record of where it was sent: a
   * process killed outright may have sent it anywhere (and a processor may
   * still be storing it), so both processors are asked before each attempt.
   */
  readonly unaccounted: boolean
}

/** The processors that may hold the payment already: asked before it is sent again. */
export const mayHold = (payment: Dispatch): ReadonlyArray<ProcessorName> =>
  payment.unaccounted
    ? processorNames
    : Option.match(payment.sent, { onNone: () => [], onSome: (sent) => [sent.processor] })

/** The processor a payment may go to, if any may already hold it. */
export const pinnedTo = (payment: Dispatch): Option.Option<ProcessorName> =>
  Option.map(payment.sent, (sent) => sent.processor)

/**
 * The instant an attempt is sent under: a fresh one, so a payment that waited
 * out an outage is stamped when it is finally processed — unless a request
 * already may have stored it, whose instant it must repeat.
 */
export const requestedAt = (payment: Dispatch, now: DateTime.Utc): DateTime.Utc =>
  Option.match(payment.sent, { onNone: () => now, onSome: (sent) => sent.requestedAt })

/** What an answer means for the payment. */
export type Verdict = Data.TaggedEnum<{
  /** A processor holds it under this instant: count it. */
  Record: { readonly sent: Sent }
  /** Another sender's payment with the same correlationId: that one records it. */
  Forget: Record<never, never>
  /** Not done: try again later, from this state. */
  Retry: { readonly payment: Dispatch }
}>
export const Verdict = Data.taggedEnum<Verdict>()

/**
 * The verdict on a payment after `sent` was answered with `outcome`.
 * `payment` is the payment as it was before this request.
 */
export const afterAnswer = (payment: Dispatch, sent: Sent, outcome: SendOutcome): Verdict => {
  switch (outcome._tag) {
    case "Accepted":
      return Verdict.Record({ sent })
    case "AlreadyHeld":
      // Ours if an earlier request of ours may have reached it (then under the
      // same requestedAt, which a pinned payment repeats); a payment that may
      // have been sent before a restart is looked up to learn its instant; any
      // other was sent by another instance under the same correlationId.
      if (Option.isSome(payment.sent)) return Verdict.Record({ sent })
      if (payment.unaccounted) return Verdict.Retry({ payment: { ...payment, sent: Option.some(sent) } })
      return Verdict.Forget()
    case "Refused":
      // This request stored nothing; an earlier one that got no answer still may.
      return Verdict.Retry({ payment })
    case "NoAnswer":
      return Verdict.Retry({ payment: { ...payment, sent: Option.some(sent) } })
  }
}
