/**
 * `node scripts/repro-effect-cost.ts`: what a few Effect constructs cost per
 * call, in isolation (no HTTP, no database), as CPU time per operation. Each
 * operation is one asynchronous step (resumed from `setImmediate`, as a socket
 * read would be) wrapped in the construct; 100 run concurrently at a time,
 * with span recording off, as on the server's hot path
 * (docs/crebitos-efficiency.md, "Inside Effect").
 *
 *   REPRO_OPS (default 200000)   REPRO_CASE (one case's name; all by default)
 *
 * `node --no-allocation-site-pretenuring scripts/repro-effect-cost.ts` gives
 * figures that do not depend on the run: without it V8 sometimes pretenures
 * the fibers' objects, and then every case of that process costs about three
 * times as much, the collector taking 40% of the time. The server does not
 * behave that way (docs/crebitos-efficiency.md).
 */

import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"

const operations = Number(process.env.REPRO_OPS ?? 200_000)
const batch = 100

const step = Effect.callback<number>((resume) => {
  setImmediate(() => resume(Effect.succeed(1)))
})

const traced = Effect.fn("traced")(function* (x: number) {
  return (yield* step) + x
})
const untraced = Effect.fnUntraced(function* (x: number) {
  return (yield* step) + x
})

const timeLimited = <A>(self: Effect.Effect<A>) =>
  self.pipe(Effect.timeoutOrElse({ duration: "2 seconds", orElse: () => Effect.succeed(0) }))

/** Each operation: the construct around one step. */
const cases: Record<string, () => Effect.Effect<unknown>> = {
  "step alone": () => step,
  "Effect.fnUntraced": () => untraced(1),
  'Effect.fn("name")': () => traced(1),
  'Effect.fn("name"), Error.stackTraceLimit = 0': () => traced(1),
  "Effect.timeoutOrElse": () => timeLimited(step),
  "Effect.forkDetach + Fiber.join": () => Effect.flatMap(Effect.forkDetach(step), Fiber.join),
  // The shape of answerWithin (src/Platform/Sql.ts): the call in a fiber of its own, its join bounded.
  "forkDetach + Fiber.join + timeoutOrElse": () =>
    Effect.flatMap(Effect.forkDetach(step), (fiber) => timeLimited(Fiber.join(fiber)))
}

const runAll = (operation: () => Effect.Effect<unknown>) =>
  Effect.runPromise(
    Effect.forEach(
      Array.from({ length: operations / batch }),
      () => Effect.all(Array.from({ length: batch }, operation), { concurrency: "unbounded" }),
      { discard: true }
    ).pipe(Effect.withTracerEnabled(false))
  )

const nanosPerOperation = async (operation: () => Effect.Effect<unknown>) => {
  for (let warm = 0; warm < 3; warm++) await runAll(operation)
  const repetitions = 5
  const start = process.cpuUsage()
  for (let i = 0; i < repetitions; i++) await runAll(operation)
  const used = process.cpuUsage(start)
  return ((used.user + used.system) * 1000) / (repetitions * operations)
}

console.log(`node ${process.version}; ${operations} operations per repetition, ${batch} concurrent`)
for (const [name, operation] of Object.entries(cases)) {
  if (process.env.REPRO_CASE !== undefined && process.env.REPRO_CASE !== name) continue
  const limit = Error.stackTraceLimit
  if (name.includes("stackTraceLimit = 0")) Error.stackTraceLimit = 0
  const nanos = await nanosPerOperation(operation)
  Error.stackTraceLimit = limit
  console.log(`${name.padEnd(46)} ${Math.round(nanos).toString().padStart(6)} ns CPU per operation`)
}
