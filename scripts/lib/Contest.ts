/**
 * The contest on this machine, for any service: bring the capped stack up,
 * wait for it as the contest does, run the service's k6 script while every
 * service is metered, ask the service what it needs for its verdict (an
 * audit of the database, the simulators' counters), take the stack down and
 * write reports/<timestamp>-<service>-<profile>/ (summary.json, summary.md,
 * index.html). What differs per service is a `Definition`. With `observe`,
 * Prometheus scrapes the APIs and the report adds what they measured of
 * themselves over the load (scripts/lib/Prometheus.ts).
 */

import { mkdir } from "node:fs/promises"
import { cpus, totalmem } from "node:os"
import { join, relative } from "node:path"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { repositoryRoot } from "../../local/Processes.ts"
import type { ServiceName } from "./Bundle.ts"
import * as K6 from "./K6.ts"
import * as Metering from "./Metering.ts"
import * as Options from "./Options.ts"
import * as Prometheus from "./Prometheus.ts"
import * as Report from "./Report.ts"
import * as Samples from "./Samples.ts"
import type * as Stack from "./Stack.ts"

/** How one run was asked for, on the command line. */
export interface RunOptions {
  readonly profile: string
  readonly pgProfile: Stack.PgProfile
  /** API settings over the compose file's, for this run (`--set NAME=value`). */
  readonly settings: Readonly<Record<string, string>>
  readonly port: number
  readonly verbose: boolean
  /** Metrics on, scraped by a Prometheus; the report gains the server-side panels. */
  readonly observe?: boolean
  /** With `observe`, seconds between scrapes (`--scrape-interval`). */
  readonly scrapeSeconds?: number
  /** With `observe`, the APIs whose metrics are on when not all (`--observe-only`): the others are its control. */
  readonly observedApis?: ReadonlyArray<string>
  /** Each API the service's floor instead of this project (`--floor`, `Stack.StackOptions`). */
  readonly floor?: boolean
  /** API instances running another file than this build (`--api-entry`, `Stack.StackOptions`). */
  readonly apiEntries?: Readonly<Record<string, string>>
}

/** What a service's contest found, in the report's terms. */
export interface Judgement {
  /** Why the run failed; none when it passed. */
  readonly reasons: ReadonlyArray<string>
  /** Requests answered otherwise than the contest expects. */
  readonly ko: number
  readonly inconsistencies: Report.Summary["inconsistencies"]
  readonly sections?: ReadonlyArray<Report.Section>
}

export interface Definition<S extends Stack.Stack, A> {
  readonly service: ServiceName
  readonly title: (options: RunOptions) => string
  readonly profiles: ReadonlyArray<string>
  /** Profiles run to find a limit, whose failures do not fail the command. */
  readonly exploratory: ReadonlyArray<string>
  readonly pgProfiles: ReadonlyArray<Stack.PgProfile>
  /** The stack and whatever the service adds to it (the simulators). */
  readonly up: (options: Stack.StackOptions) => Effect.Effect<S, Error, Scope.Scope>
  /** The contest's readiness rule: this path answers 200, asked every 2 s for at most 40 s. */
  readonly readinessPath: string
  /** Under k6/. */
  readonly script: string
  /** k6's environment besides BASE_URL and PROFILE. */
  readonly k6Environment: (stack: S, dir: string) => Readonly<Record<string, string>>
  /** After k6, with the stack still up: what the verdict needs from it. */
  readonly afterLoad: (stack: S) => Effect.Effect<A>
  readonly judge: (run: {
    readonly dir: string
    readonly samples: ReadonlyArray<Samples.Sample>
    readonly k6ExitCode: number
    readonly afterLoad: A
  }) => Effect.Effect<Judgement>
}

const readinessAttempts = 20

const awaitReady = (url: string) =>
  Effect.tryPromise(() => fetch(url)).pipe(
    Effect.filterOrFail((response) => response.status === 200),
    Effect.retry({ schedule: Schedule.spaced("2 seconds"), times: readinessAttempts }),
    Effect.mapError(() => new Error(`the stack did not answer ${url} within 40 s`))
  )

export const machine = () => `${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${Math.round(totalmem() / 2 ** 30)} GiB`

/** A fresh report folder: reports/<timestamp>-<name>/. */
export const reportDir = (startedAt: Date, name: string) =>
  Effect.gen(function* () {
    const dir = join(repositoryRoot, "reports", `${startedAt.toISOString().replace(/[:.]/g, "-")}-${name}`)
    yield* Effect.promise(() => mkdir(dir, { recursive: true }))
    return dir
  })

/** Writes the report and prints its tables and where it is. */
export const publish = (dir: string, summary: Report.Summary) =>
  Effect.gen(function* () {
    yield* Report.write(dir, summary)
    console.log(`\n${Report.markdown(summary)}`)
    console.log(`Report: ${relative(process.cwd(), join(dir, "index.html"))}`)
  })

/** The report's line on metrics: where they were on, and how often scraped. */
export const observedText = (apis: ReadonlyArray<string> | undefined, scrapeSeconds: number) =>
  `metrics on${apis === undefined ? "" : ` in ${apis.join(", ")} only`}, scraped every ${scrapeSeconds} s`

/** The report's line on a floor run: it measured the harness, not this project. */
const floorText = (service: ServiceName) =>
  `each API was scripts/floor/${service}.ts, not this project: the floor of this stack on this machine`

/** Runs the contest of one service; fails when the verdict does (unless the profile is exploratory, or a floor run). */
export const run = <S extends Stack.Stack, A>(contest: Definition<S, A>, options: RunOptions) =>
  Effect.gen(function* () {
    if (!contest.profiles.includes(options.profile)) {
      return yield* Effect.fail(new Error(`--profile is one of ${contest.profiles.join(", ")}`))
    }
    if (!contest.pgProfiles.includes(options.pgProfile)) {
      return yield* Effect.fail(new Error(`--pg-profile is one of ${contest.pgProfiles.join(", ")}`))
    }
    const startedAt = new Date()
    const pgSuffix = contest.pgProfiles.length > 1 ? `-${options.pgProfile}` : ""
    const floorSuffix = options.floor === true ? "-floor" : ""
    const dir = yield* reportDir(startedAt, `${contest.service}-${options.profile}${pgSuffix}${floorSuffix}`)
    const k6 = yield* K6.ensure

    const scrapeSeconds = options.scrapeSeconds ?? Prometheus.defaultScrapeSeconds
    const measured = yield* Effect.scoped(
      Effect.gen(function* () {
        const bringUp = yield* Clock.currentTimeMillis
        const stack = yield* contest.up({
          service: contest.service,
          pgProfile: options.pgProfile,
          port: options.port,
          verbose: options.verbose,
          observe: options.observe === true,
          scrapeSeconds,
          ...(options.observedApis === undefined ? {} : { observedApis: options.observedApis }),
          floor: options.floor === true,
          ...(options.apiEntries === undefined ? {} : { apiEntries: options.apiEntries }),
          apiEnvironment: options.settings
        })
        yield* awaitReady(`${stack.url}${contest.readinessPath}`)
        const readySeconds = ((yield* Clock.currentTimeMillis) - bringUp) / 1000
        console.log(
          `Stack ready in ${readySeconds.toFixed(1)} s; running k6/${contest.script}, profile ${options.profile}…`
        )
        const loadStart = yield* Clock.currentTimeMillis
        const load = yield* Metering.during(
          stack.services,
          K6.run({
            binary: k6,
            script: contest.script,
            dir,
            env: { BASE_URL: stack.url, PROFILE: options.profile, ...contest.k6Environment(stack, dir) }
          })
        )
        const window = { start: loadStart, end: yield* Clock.currentTimeMillis }
        const serverSide = yield* Option.match(stack.prometheus, {
          onNone: () => Effect.succeed(undefined),
          // Two more scrapes, so the load's last seconds are in.
          // A panel that cannot be had costs the panels, never the run's report.
          onSome: (url) =>
            Effect.andThen(
              Effect.sleep(Duration.seconds(2 * scrapeSeconds)),
              Prometheus.panels(url, contest.service, window, scrapeSeconds)
            ).pipe(Effect.catch((error) => Effect.as(Effect.logError(error.message), undefined)))
        })
        return { readySeconds, load, serverSide, afterLoad: yield* contest.afterLoad(stack) }
      })
    )

    const samples = yield* Samples.read(join(dir, "k6-samples.csv.gz"))
    const judgement = yield* contest.judge({
      dir,
      samples,
      k6ExitCode: measured.load.result,
      afterLoad: measured.afterLoad
    })
    const reasons = [
      ...judgement.reasons,
      ...(measured.readySeconds > 40 ? [`ready after ${measured.readySeconds.toFixed(1)} s (> 40 s)`] : [])
    ]
    const settings = Options.settingsText(options.settings)
    const overall = Samples.stats(samples)
    const summary: Report.Summary = {
      title: contest.title(options),
      run: {
        profile: options.profile,
        ...(contest.pgProfiles.length > 1 ? { pgProfile: options.pgProfile } : {}),
        ...(settings.length > 0 ? { settings: settings.join(" ") } : {}),
        ...(options.observe === true ? { observed: observedText(options.observedApis, scrapeSeconds) } : {}),
        ...(options.floor === true ? { floor: floorText(contest.service) } : {}),
        ...(options.apiEntries !== undefined && Object.keys(options.apiEntries).length > 0
          ? { apiEntries: Options.apiEntriesText(options.apiEntries) }
          : {}),
        startedAt: startedAt.toISOString(),
        durationSeconds: Number(measured.load.seconds.toFixed(1)),
        readyAfterSeconds: Number(measured.readySeconds.toFixed(1)),
        capped: measured.load.services.every((service) => service.capped),
        k6: K6.version,
        k6ExitCode: measured.load.result,
        node: process.version,
        machine: machine()
      },
      verdict: { passed: reasons.length === 0, reasons },
      requests: overall.requests,
      ko: judgement.ko,
      inconsistencies: judgement.inconsistencies,
      reqPerSecond: overall.requests / Math.max(1, measured.load.seconds),
      overall,
      scenarios: Samples.byScenario(samples),
      services: measured.load.services,
      timeline: Samples.timeline(samples),
      distribution: Samples.distribution(samples),
      ...(judgement.sections === undefined ? {} : { sections: judgement.sections }),
      ...(measured.serverSide === undefined ? {} : { serverSide: measured.serverSide }),
      attachments: [{ file: "k6-dashboard.html", label: "k6's own dashboard for this run" }]
    }
    yield* publish(dir, summary)
    // A floor run measures the harness: its verdict (Payments' floor records nothing) fails no command.
    if (!summary.verdict.passed && !contest.exploratory.includes(options.profile) && options.floor !== true) {
      return yield* Effect.fail(new Error(reasons.join("; ")))
    }
  })
