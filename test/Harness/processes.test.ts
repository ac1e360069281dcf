import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { exited, isAlive, repositoryRoot, spawnProcess } from "../../local/Processes.ts"

/** A launcher that starts a long-running child with spawnProcess, says its pid, and waits. */
const launcher = `
import * as Effect from "effect/Effect"
import { spawnProcess } from ${JSON.stringify(join(repositoryRoot, "local", "Processes.ts"))}
const child = spawnProcess(process.execPath, ["-e", "setInterval(() => {}, 1000)"], {})
Effect.runFork(Effect.scoped(Effect.flatMap(child, (running) =>
  Effect.andThen(Effect.sync(() => console.log("child " + running.child.pid)), Effect.never))))
`

describe("processes started by the harness", () => {
  it.live("do not outlive a launcher killed outright (kill -9 of a test run, of npm run stack)", () =>
    Effect.gen(function* () {
      const parent = yield* spawnProcess(process.execPath, ["--input-type=module", "-e", launcher], {
        ready: /child \d+/
      })
      const child = Number(/child (\d+)/.exec(parent.output())?.[1])
      assert.isTrue(isAlive(child))
      process.kill(parent.child.pid ?? 0, "SIGKILL")
      yield* exited(parent.child)
      const alive = yield* Effect.sync(() => isAlive(child)).pipe(
        Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (still) => !still, times: 100 })
      )
      assert.isFalse(alive, `process ${child} outlived its launcher`)
    }).pipe(Effect.scoped)
  )
})
