/**
 * The fault suite's runner: under a steady load on the capped stack
 * (scripts/lib/Traffic.ts), one fault at a time, each in a segment of its own:
 *
 *   load ── before ──▶ inject ──▶ until every API serves again ── after ──▶ stop the load ──▶ audit
 *
 * For each fault it measures the error window (from the first failed
 * request sent to the last failed answer), the recovery time (from the
 * injection until the service is back to full service and no request fails
 * any more) and what the audit found. What a service is, what failing means
 * for it, its faults and its audit are a `Target`.
 */

import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { isAlive } from "../../local/Processes.ts"
import { descendants } from "./Cgroups.ts"
import * as Metering from "./Metering.ts"
import type { ServiceReport } from "./Report.ts"
import type { Sample } from "./Samples.ts"
import type * as Stack from "./Stack.ts"
import * as Traffic from "./Traffic.ts"

export interface Profile {
  readonly name: "full" | "short"
  /** Load before each injection, and after the service is back. */
  readonly before: Duration.Input
  readonly after: Duration.Input
  /** Requests per second of the steady load, per service. */
  readonly rates: { readonly crebitos: number; readonly payments: number }
}

/** Longest a service may take to be back to full service once a fault's injection is over. */
export const recoveryBound = Duration.seconds(20)

/** How long a request waits for its answer. */
const requestTimeout = Duration.seconds(5)

/** When a fault happened, as the segment measured it. */
export interface Timeline {
  /** The segment's number, which its requests were built with. */
  readonly segment: number
  readonly injectedAt: number
  /** When the injection was over (a freeze thawed, processors restored). */
  readonly injectionEndedAt: number
  /** When every API served again; none if it never did within the bound. */
  readonly servingAt: Option.Option<number>
}

export interface Fault<S> {
  readonly name: string
  /** What has to hold before the fault, under load (e.g. payments queued): not part of the fault's time. */
  readonly setUp?: (stack: S) => Effect.Effect<void>
  /** Injects the fault and returns once it is over (a freeze lasts its seconds in here), with what it saw. */
  readonly inject: (stack: S) => Effect.Effect<ReadonlyArray<string>>
}

export interface AuditResult {
  /** What breaks a guarantee: any fails the run. */
  readonly findings: ReadonlyArray<string>
  /** What the audit established, for the report (counts, what was lost as the profile allows). */
  readonly notes: ReadonlyArray<string>
}

/** What `npm run faults` asks of each service's target (scripts/lib/Crebitos.ts, Payments.ts). */
export interface TargetOptions {
  readonly rate: number
  readonly port: number
  readonly verbose: boolean
  readonly settings: Readonly<Record<string, string>>
  /** The names of the faults to inject; every one when empty. */
  readonly faults: ReadonlyArray<string>
}

/** At most this many findings of one kind are listed; the rest are counted. */
const listed = 5

/** One finding for all the items of a kind: how many, and the first few. */
export const findingsOf = (kind: string, items: ReadonlyArray<string>) =>
  items.length === 0
    ? []
    : [
        `${items.length} ${kind}${items.length > listed ? ` (first ${listed})` : ""}: ${items.slice(0, listed).join("; ")}`
      ]

export interface Target<S extends Stack.Stack, T, F extends Fault<S> = Fault<S>> {
  /** e.g. "crebitos (durable)". */
  readonly label: string
  readonly up: Effect.Effect<S, Error, Scope.Scope>
  readonly rate: number
  /** The `index`-th request of the segment with this number. */
  readonly request: (segment: number) => (index: number) => Traffic.Request<T>
  /** Not what the contract promises: a failed request. */
  readonly failed: (answer: Traffic.Answer<T>) => boolean
  /** An answer the contract forbids in any case (a balance below its limit): an inconsistency. */
  readonly inconsistent: (answer: Traffic.Answer<T>) => boolean
  /** Back to full service (e.g. every API healthy, no backlog). */
  readonly serving: (stack: S, answers: ReadonlyArray<Traffic.Answer<T>>) => Effect.Effect<boolean>
  /** Before each segment's load. */
  readonly prepare: (stack: S) => Effect.Effect<void>
  readonly faults: ReadonlyArray<F>
  /** After the segment's load stopped: are its acknowledged writes all there, is everything consistent? */
  readonly audit: (
    stack: S,
    fault: F,
    answers: ReadonlyArray<Traffic.Answer<T>>,
    timeline: Timeline
  ) => Effect.Effect<AuditResult>
}

/** One fault's row of the report. */
export interface Outcome {
  readonly target: string
  readonly fault: string
  readonly requests: number
  readonly failed: number
  /** Failed answers by status ("503", "no answer"). */
  readonly failures: Readonly<Record<string, number>>
  readonly inconsistencies: number
  /** ms; 0 without a failed request. */
  readonly errorWindowMs: number
  /** ms from the injection; none when it did not recover within the bound. */
  readonly recoveryMs: Option.Option<number>
  readonly injectionMs: number
  readonly audit: AuditResult
  readonly passed: boolean
  readonly samples: ReadonlyArray<Sample>
}

/** The answers of a segment as report samples, one scenario per fault. */
const samplesOf = <T>(
  scenario: string,
  answers: ReadonlyArray<Traffic.Answer<T>>,
  failed: (a: Traffic.Answer<T>) => boolean
) =>
  answers.map(
    (answer): Sample => ({
      second: Math.floor(answer.sentAt / 1000),
      scenario,
      ms: answer.answeredAt - answer.sentAt,
      expected: !failed(answer)
    })
  )

const failureKind = (answer: Traffic.Answer<unknown>) => (answer.status === 0 ? "no answer" : String(answer.status))

/** Polls `serving` until it holds, for at most the recovery bound; when it first held. */
const awaitServing = (serving: Effect.Effect<boolean>) =>
  Effect.gen(function* () {
    yield* serving.pipe(
      Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (ok) => ok }),
      Effect.timeoutOption(recoveryBound)
    )
    return (yield* serving) ? Option.some(yield* Clock.currentTimeMillis) : Option.none()
  })

/**
 * For each instance that gave no answer through nginx for over a second
 * during the segment, the longest such gap: after a kill -9, how long nginx
 * kept it out of rotation (its restart, then `fail_timeout`); during a
 * freeze, how long its answers (503s) took.
 */
const silences = (stack: Stack.Stack, from: number, to: number) =>
  Option.match(stack.upstreamAnswers, {
    onNone: () => Effect.succeed([]),
    onSome: (read) =>
      Effect.map(read, (answers) =>
        stack.apis.flatMap((api) => {
          const times = answers
            .filter(
              (answer) => answer.port === api.port && answer.status !== 502 && answer.at >= from && answer.at <= to
            )
            .map((answer) => answer.at)
          const gap = times.reduce((longest, at, index) => Math.max(longest, at - (times[index - 1] ?? at)), 0)
          const untilEnd = to - (times.at(-1) ?? from)
          if (untilEnd > Math.max(gap, 1000)) {
            return [`${api.name} gave no answer through nginx for the last ${seconds(untilEnd)} of the load`]
          }
          return gap > 1000 ? [`${api.name} gave no answer through nginx for ${seconds(gap)}`] : []
        })
      )
  })

const segment = <S extends Stack.Stack, T, F extends Fault<S>>(
  target: Target<S, T, F>,
  stack: S,
  profile: Profile,
  fault: F,
  index: number
) =>
  Effect.gen(function* () {
    console.log(`${target.label}: ${fault.name}…`)
    yield* target.prepare(stack)
    const traffic = yield* Traffic.start({
      url: stack.url,
      rate: target.rate,
      timeout: requestTimeout,
      next: target.request(index)
    })
    yield* Effect.sleep(profile.before)
    if (fault.setUp !== undefined) yield* fault.setUp(stack)
    const injectedAt = yield* Clock.currentTimeMillis
    const seen = yield* fault.inject(stack)
    const injectionEndedAt = yield* Clock.currentTimeMillis
    const servingAt = yield* awaitServing(Effect.flatMap(traffic.answers, (answers) => target.serving(stack, answers)))
    yield* Effect.sleep(profile.after)
    const answers = yield* traffic.stop
    const loadEndedAt = yield* Clock.currentTimeMillis
    const timeline: Timeline = { segment: index, injectedAt, injectionEndedAt, servingAt }
    const audit = yield* target.audit(stack, fault, answers, timeline)
    const rotation = yield* silences(stack, injectedAt - 1000, loadEndedAt)

    const failures = answers.filter(target.failed)
    const firstSent = failures.reduce((first, answer) => Math.min(first, answer.sentAt), Number.POSITIVE_INFINITY)
    const lastAnswered = failures.reduce((last, answer) => Math.max(last, answer.answeredAt), 0)
    const recoveredAt = Option.map(servingAt, (at) => Math.max(at, failures.length === 0 ? at : lastAnswered))
    const inconsistencies = answers.filter(target.inconsistent).length
    const outcome: Outcome = {
      target: target.label,
      fault: fault.name,
      requests: answers.length,
      failed: failures.length,
      failures: failures.reduce<Record<string, number>>((counts, answer) => {
        const kind = failureKind(answer)
        counts[kind] = (counts[kind] ?? 0) + 1
        return counts
      }, {}),
      inconsistencies,
      errorWindowMs: failures.length === 0 ? 0 : lastAnswered - firstSent,
      recoveryMs: Option.map(recoveredAt, (at) => at - injectedAt),
      injectionMs: injectionEndedAt - injectedAt,
      audit: { findings: audit.findings, notes: [...seen, ...rotation, ...audit.notes] },
      passed: Option.isSome(servingAt) && audit.findings.length === 0 && inconsistencies === 0,
      samples: samplesOf(`${target.label}: ${fault.name}`, answers, target.failed)
    }
    console.log(`  ${describe(outcome)}`)
    return outcome
  }).pipe(Effect.scoped)

/** Brings the target's stack up, runs each of its faults in turn under load, and takes it down. */
export const run = <S extends Stack.Stack, T, F extends Fault<S>>(
  target: Target<S, T, F>,
  profile: Profile,
  only: Option.Option<string>
): Effect.Effect<
  { readonly outcomes: ReadonlyArray<Outcome>; readonly services: ReadonlyArray<ServiceReport> },
  Error
> =>
  Effect.scoped(
    Effect.gen(function* () {
      const faults = target.faults.filter((fault) =>
        Option.match(only, { onNone: () => true, onSome: (name) => fault.name.includes(name) })
      )
      if (faults.length === 0) return { outcomes: [], services: [] }
      const stack = yield* target.up
      const measured = yield* Metering.during(
        stack.services,
        Effect.forEach(faults, (fault, index) => segment(target, stack, profile, fault, index))
      )
      return {
        outcomes: measured.result,
        services: measured.services.map((service) => ({ ...service, name: `${target.label} ${service.name}` }))
      }
    })
  )

export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/** From the injection; and from its end, when it lasted (a freeze, a processor outage). */
export const recovery = (outcome: Outcome) =>
  Option.match(outcome.recoveryMs, {
    onNone: () => `not within ${Duration.format(recoveryBound)}`,
    onSome: (ms) =>
      outcome.injectionMs < 500
        ? seconds(ms)
        : `${seconds(ms)} (${seconds(Math.max(0, ms - outcome.injectionMs))} after it ended)`
  })

/** One line: what a fault cost. */
const describe = (outcome: Outcome) =>
  [
    `error window ${seconds(outcome.errorWindowMs)}`,
    `recovery ${recovery(outcome)}`,
    `${outcome.failed} of ${outcome.requests} failed`,
    outcome.audit.findings.length === 0 ? "audit OK" : `audit: ${outcome.audit.findings.length} findings`
  ].join(", ")

// --- injecting -------------------------------------------------------------------

/** A process and all its descendants (PostgreSQL's backends are the postmaster's children). */
const tree = (pid: number) => Effect.promise(async () => [pid, ...(await descendants(pid))])

/** Sends `signal` to each of these processes still there. */
const signalAll = (pids: ReadonlyArray<number>, signal: NodeJS.Signals) =>
  Effect.sync(() => {
    for (const pid of pids) {
      try {
        process.kill(pid, signal)
      } catch {
        // Gone already.
      }
    }
  })

/** Waits until the process is gone (its supervisor reaped it), for at most 5 s. */
const gone = (pid: number) =>
  Effect.sync(() => isAlive(pid)).pipe(
    Effect.repeat({ schedule: Schedule.spaced("10 millis"), until: (alive) => !alive }),
    Effect.timeoutOption("5 seconds"),
    Effect.asVoid
  )

/** `kill -9` of a process tree; returns once it is gone. */
export const kill = (pid: Effect.Effect<number>) =>
  Effect.gen(function* () {
    const target = yield* pid
    // The whole tree at once, as `docker kill` takes a whole container.
    yield* signalAll(yield* tree(target), "SIGKILL")
    yield* gone(target)
    return target
  })

/** SIGSTOP of a process tree for `duration`, then SIGCONT, as `docker pause` freezes a container. */
export const freeze = (pid: Effect.Effect<number>, duration: Duration.Input) =>
  Effect.gen(function* () {
    const target = yield* pid
    const members = yield* tree(target)
    yield* signalAll(members, "SIGSTOP")
    yield* Effect.sleep(duration).pipe(Effect.ensuring(signalAll(members, "SIGCONT")))
    return members.length
  })

/** Every API answers /healthz 200 on its own port. */
export const everyApiHealthy = (stack: Stack.Stack) =>
  Effect.forEach(
    stack.apis,
    (api) =>
      Effect.tryPromise((signal) => fetch(`${api.url}/healthz`, { signal })).pipe(
        Effect.map((response) => response.status === 200),
        Effect.timeoutOrElse({ duration: "1 second", orElse: () => Effect.succeed(false) }),
        Effect.orElseSucceed(() => false)
      ),
    { concurrency: "unbounded" }
  ).pipe(Effect.map((healthy) => healthy.every(Boolean)))
