import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Option from "effect/Option"
import { Cents, type ProcessorName } from "../../src/Payments/Domain.ts"
import * as Policy from "../../src/Payments/Policy.ts"
import { SendOutcome } from "../../src/Payments/Processors.ts"

/** The defaults: FALLBACK_AFTER 10 s, PROBE_INTERVAL 250 ms. */
const config: Policy.PolicyConfig = { fallbackAfterMs: 10_000, probeIntervalMs: 250 }

const t0 = 1_752_580_800_000

const fresh: Policy.Routable = { acceptedAt: t0, pinnedTo: Option.none() }
const pinned = (processor: ProcessorName): Policy.Routable => ({ acceptedAt: t0, pinnedTo: Option.some(processor) })

const send = (processor: ProcessorName) => Policy.Route.Send({ processor })
const probe = (processor: ProcessorName) => Policy.Route.Probe({ processor })
const wait = Policy.Route.Wait()

/** The route alone, for a state that does not change. */
const routeOf = (state: Policy.HealthState, payment: Policy.Routable, now: number) =>
  Policy.route(state, payment, now, config)[0]

/** The state after `processor` answered a real request `outcome` at `now`. */
const observed = (
  state: Policy.HealthState,
  processor: ProcessorName,
  outcome: SendOutcome,
  now: number,
  tag: "Send" | "Probe" = "Send"
) => Policy.observe(state, tag === "Send" ? send(processor) : probe(processor), outcome, now, config)

const defaultSuspect = observed(Policy.initialState, "default", SendOutcome.Refused(), t0)

describe("Policy: where an attempt goes", () => {
  it("default while it is trusted, however long the payment waited", () => {
    assert.deepStrictEqual(routeOf(Policy.initialState, fresh, t0), send("default"))
    assert.deepStrictEqual(routeOf(Policy.initialState, fresh, t0 + 60_000), send("default"))
  })

  it("a refusal (500, 429) or no answer (timeout, lost connection) makes a processor suspect", () => {
    for (const outcome of [SendOutcome.Refused(), SendOutcome.NoAnswer()]) {
      const state = observed(Policy.initialState, "default", outcome, t0)
      assert.isTrue(state.default.suspect, outcome._tag)
      assert.isFalse(state.fallback.suspect)
      assert.deepStrictEqual(routeOf(state, fresh, t0), wait)
    }
  })

  it("while suspect: one probe per PROBE_INTERVAL after the last failure, one at a time", () => {
    assert.deepStrictEqual(routeOf(defaultSuspect, fresh, t0 + 249), wait)
    const [first, probing] = Policy.route(defaultSuspect, fresh, t0 + 250, config)
    assert.deepStrictEqual(first, probe("default"))
    // The probe is out: nobody else goes, however much later.
    assert.deepStrictEqual(routeOf(probing, fresh, t0 + 5_000), wait)
    // It failed at +400: the next probe is due 250 ms after that.
    const failedAgain = observed(probing, "default", SendOutcome.NoAnswer(), t0 + 400, "Probe")
    assert.deepStrictEqual(routeOf(failedAgain, fresh, t0 + 649), wait)
    assert.deepStrictEqual(routeOf(failedAgain, fresh, t0 + 650), probe("default"))
  })

  it("the first success clears suspicion: an acceptance or a 422, probe or not", () => {
    for (const outcome of [SendOutcome.Accepted(), SendOutcome.AlreadyHeld()]) {
      const [, probing] = Policy.route(defaultSuspect, fresh, t0 + 250, config)
      const cleared = observed(probing, "default", outcome, t0 + 300, "Probe")
      assert.isFalse(cleared.default.suspect, outcome._tag)
      assert.isFalse(cleared.default.probing)
      assert.deepStrictEqual(routeOf(cleared, fresh, t0 + 300), send("default"))
    }
    // A request sent before suspicion that succeeds afterwards clears it too.
    assert.isFalse(observed(defaultSuspect, "default", SendOutcome.Accepted(), t0 + 10).default.suspect)
  })

  it("fallback only after FALLBACK_AFTER of waiting, and only while fallback is not suspect", () => {
    const [beforeIt] = Policy.route(defaultSuspect, fresh, t0 + 9_999, config)
    assert.deepStrictEqual(beforeIt, probe("default"))
    assert.deepStrictEqual(routeOf(defaultSuspect, fresh, t0 + 10_000), send("fallback"))
    const bothSuspect = observed(defaultSuspect, "fallback", SendOutcome.Refused(), t0)
    assert.deepStrictEqual(routeOf(bothSuspect, fresh, t0 + 10_000), probe("default"))
    // A trusted default takes even the payments that may already go to fallback.
    assert.deepStrictEqual(routeOf(Policy.initialState, fresh, t0 + 10_000), send("default"))
  })

  it("a pinned payment goes only to its processor, under that processor's own rules", () => {
    assert.deepStrictEqual(routeOf(Policy.initialState, pinned("fallback"), t0), send("fallback"))
    // Pinned to a suspect default: no fallback, however long it waited; probes only.
    assert.deepStrictEqual(routeOf(defaultSuspect, pinned("default"), t0 + 60_000), probe("default"))
    const [, probing] = Policy.route(defaultSuspect, pinned("default"), t0 + 250, config)
    assert.deepStrictEqual(routeOf(probing, pinned("default"), t0 + 60_000), wait)
  })
})

describe("Policy: the shared health report", () => {
  const report = (state: Policy.HealthState, failing: boolean, ageMs: number, now: number) =>
    Policy.report(state, "default", { failing, ageMs }, now, config)

  it("a fresh failing report makes a trusted processor suspect, its first probe one interval later", () => {
    const state = report(Policy.initialState, true, 0, t0)
    assert.isTrue(state.default.suspect)
    assert.deepStrictEqual(routeOf(state, fresh, t0 + 249), wait)
    assert.deepStrictEqual(routeOf(state, fresh, t0 + 250), probe("default"))
    // Already suspect: a failing report does not postpone the probe.
    assert.strictEqual(report(defaultSuspect, true, 0, t0 + 200), defaultSuspect)
  })

  it("a fresh healthy report clears suspicion", () => {
    assert.isFalse(report(defaultSuspect, false, 100, t0 + 1_000).default.suspect)
  })

  it("a report older than 15 s is ignored", () => {
    assert.strictEqual(report(Policy.initialState, true, Policy.staleReportMs + 1, t0), Policy.initialState)
    assert.isTrue(report(Policy.initialState, true, Policy.staleReportMs, t0).default.suspect)
  })

  it("a report from before the last real answer is history: the answer knows better", () => {
    // default refused a payment at t0; a report asked 1 s before says it is fine.
    assert.strictEqual(report(defaultSuspect, false, 1_000, t0 + 500), defaultSuspect)
    // Asked after that answer, it counts.
    assert.isFalse(report(defaultSuspect, false, 400, t0 + 500).default.suspect)
  })
})

describe("Policy: what an answer means for the payment", () => {
  const requestedAt = DateTime.makeUnsafe(t0)
  const earlier = DateTime.makeUnsafe(t0 - 5_000)
  const base: Policy.Dispatch = {
    correlationId: "7b4e0a8e-9d3e-4a51-8c1e-2f8a4c1b6d90",
    amount: Cents.make(1990),
    sent: Option.none(),
    acceptedAt: t0,
    unaccounted: false
  }
  const sentTo = (processor: ProcessorName, at = requestedAt) => ({ processor, requestedAt: at })
  const pinnedPayment: Policy.Dispatch = { ...base, sent: Option.some(sentTo("default", earlier)) }
  const unaccounted: Policy.Dispatch = { ...base, unaccounted: true }

  it("requestedAt is fresh for each attempt, unless a request may have stored the payment", () => {
    assert.strictEqual(Policy.requestedAt(base, requestedAt), requestedAt)
    assert.strictEqual(Policy.requestedAt(pinnedPayment, requestedAt), earlier)
  })

  it("looked up before sending: at the processor it is pinned to, at both when unaccounted", () => {
    assert.deepStrictEqual(Policy.mayHold(base), [])
    assert.deepStrictEqual(Policy.mayHold(pinnedPayment), ["default"])
    assert.deepStrictEqual(Policy.mayHold(unaccounted), ["default", "fallback"])
    assert.deepStrictEqual(Policy.pinnedTo(pinnedPayment), Option.some("default"))
  })

  it("accepted: recorded under the instant it was sent with", () => {
    const sent = sentTo("fallback")
    assert.deepStrictEqual(Policy.afterAnswer(base, sent, SendOutcome.Accepted()), Policy.Verdict.Record({ sent }))
  })

  it("a 422 for a payment never sent there is another sender's: forgotten, not recorded", () => {
    assert.deepStrictEqual(
      Policy.afterAnswer(base, sentTo("default"), SendOutcome.AlreadyHeld()),
      Policy.Verdict.Forget()
    )
  })

  it("a 422 for a pinned payment is ours: recorded under the pinned instant", () => {
    const sent = sentTo("default", earlier)
    assert.deepStrictEqual(
      Policy.afterAnswer(pinnedPayment, sent, SendOutcome.AlreadyHeld()),
      Policy.Verdict.Record({ sent })
    )
  })

  it("a 422 for an unaccounted payment: looked up again to learn the instant it is held under", () => {
    const sent = sentTo("default")
    assert.deepStrictEqual(
      Policy.afterAnswer(unaccounted, sent, SendOutcome.AlreadyHeld()),
      Policy.Verdict.Retry({ payment: { ...unaccounted, sent: Option.some(sent) } })
    )
  })

  it("no answer pins the payment to that processor under that instant", () => {
    const sent = sentTo("default")
    assert.deepStrictEqual(
      Policy.afterAnswer(base, sent, SendOutcome.NoAnswer()),
      Policy.Verdict.Retry({ payment: { ...base, sent: Option.some(sent) } })
    )
  })

  it("a refusal unpins nothing: free before stays free, pinned before stays pinned", () => {
    assert.deepStrictEqual(
      Policy.afterAnswer(base, sentTo("default"), SendOutcome.Refused()),
      Policy.Verdict.Retry({ payment: base })
    )
    assert.deepStrictEqual(
      Policy.afterAnswer(pinnedPayment, sentTo("default", earlier), SendOutcome.Refused()),
      Policy.Verdict.Retry({ payment: pinnedPayment })
    )
  })
})
