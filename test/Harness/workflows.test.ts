import { spawnSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { parse } from "yaml"
import { repositoryRoot } from "../../local/Processes.ts"
import * as Actionlint from "../../scripts/lib/Actionlint.ts"

const workflowsDir = join(repositoryRoot, ".github", "workflows")
const actionFiles = [
  ...readdirSync(workflowsDir).map((name) => join(workflowsDir, name)),
  join(repositoryRoot, ".github", "actions", "tools", "action.yml")
]

/** `npm run check`'s last step, on the files given. */
const actionlint = (files: ReadonlyArray<string>) => {
  const result = spawnSync(process.execPath, [join(repositoryRoot, "scripts", "actionlint.ts"), ...files], {
    cwd: repositoryRoot,
    encoding: "utf8"
  })
  return { status: result.status, output: result.stdout + result.stderr }
}

const fixture = (text: string) => {
  const file = join(mkdtempSync(join(tmpdir(), "rinha-actionlint-")), "workflow.yml")
  writeFileSync(file, text)
  return file
}

const Job = Schema.Struct({
  permissions: Schema.optional(Schema.Unknown),
  "timeout-minutes": Schema.optional(Schema.Number)
})
const Workflow = Schema.Struct({
  permissions: Schema.optional(Schema.Unknown),
  concurrency: Schema.optional(Schema.Unknown),
  jobs: Schema.Record(Schema.String, Job)
})

describe("the GitHub Actions workflows", () => {
  it("pass actionlint", () => {
    const { status, output } = actionlint([])
    assert.strictEqual(status, 0, output)
  })

  it("a broken workflow fails the check, each mistake named", () => {
    const { status, output } = actionlint([
      fixture(
        "on: push\npermissions:\n  contents: reed\njobs:\n  test:\n    runs-on: ubuntu-24.04\n    needs: build\n    steps:\n      - run: echo ok\n"
      )
    ])
    assert.strictEqual(status, 1)
    assert.include(output, '"reed" is invalid as permission of scope "contents"')
    assert.include(output, 'needs job "build" which does not exist')
  })

  it.effect("a run: script that shellcheck faults fails the check, when shellcheck is there", () =>
    Effect.gen(function* () {
      const shellcheck = yield* Actionlint.shellcheck
      if (Option.isNone(shellcheck)) return
      const { status, output } = actionlint([
        fixture("on: push\njobs:\n  test:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: cd $DIR && ls\n")
      ])
      assert.strictEqual(status, 1)
      assert.include(output, "SC2086")
    })
  )

  it("pin every action to a full commit, its version in a comment, one commit per action", () => {
    const pins = new Map<string, Set<string>>()
    for (const file of actionFiles) {
      for (const line of readFileSync(file, "utf8").split("\n")) {
        const uses = /^\s*(?:- )?uses:\s*(\S+)(.*)$/.exec(line)
        if (uses === null) continue
        const [, target = "", rest = ""] = uses
        if (target.startsWith("./")) continue
        const pinned = /^([\w.-]+\/[\w.-]+)(?:\/[\w./-]+)?@([0-9a-f]{40})$/.exec(target)
        assert.isNotNull(pinned, `${file}: ${line.trim()}`)
        assert.match(rest, /^ # v\d+\.\d+\.\d+$/, `${file}: ${line.trim()}`)
        const repository = pinned?.[1] ?? ""
        pins.set(repository, (pins.get(repository) ?? new Set()).add(`${pinned?.[2]}${rest}`))
      }
    }
    assert.isAtLeast(pins.size, 10)
    for (const [repository, versions] of pins) assert.strictEqual(versions.size, 1, `${repository}: ${[...versions]}`)
  })

  it("grant nothing by default, each job only what it asks for, with a timeout; runs of one kind queue or cancel", () => {
    for (const name of readdirSync(workflowsDir)) {
      const workflow = Schema.decodeUnknownSync(Workflow)(parse(readFileSync(join(workflowsDir, name), "utf8")))
      assert.deepStrictEqual(workflow.permissions, {}, name)
      assert.isDefined(workflow.concurrency, name)
      for (const [id, job] of Object.entries(workflow.jobs)) {
        assert.isDefined(job.permissions, `${name}: ${id}`)
        assert.isDefined(job["timeout-minutes"], `${name}: ${id}`)
      }
    }
  })
})
