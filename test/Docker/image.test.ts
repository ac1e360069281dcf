import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, isAbsolute, join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Arg, Cmd, Copy, DockerfileParser, Env, type Instruction, Run, User, Workdir } from "dockerfile-ast"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { freePort, repositoryRoot, spawnProcess } from "../../local/Processes.ts"
import { bundle, entryPoints } from "../../scripts/lib/Bundle.ts"
import { freshDatabase } from "../support/Database.ts"

const dockerfile = DockerfileParser.parse(readFileSync(join(repositoryRoot, "docker", "Dockerfile"), "utf8"))

/** The build stages, each from its FROM up to the next. */
const stages = dockerfile.getInstructions().reduce<Array<Array<Instruction>>>((result, instruction) => {
  if (instruction.getKeyword() === "FROM") result.push([])
  result.at(-1)?.push(instruction)
  return result
}, [])
const finalStage = stages.at(-1) ?? []

/** The instructions of one kind, typed as such. */
const all = <I extends Instruction>(kind: abstract new (...args: never) => I) =>
  finalStage.filter((instruction): instruction is I => instruction instanceof kind)
const argumentsOf = (instruction: Instruction) => instruction.getArguments().map((argument) => argument.getValue())
/** CMD's exec form, as the strings it runs. */
const command = all(Cmd).flatMap((cmd) => cmd.getJSONStrings().map((argument) => argument.getJSONValue()))

/** The folders under docker/ with a compose file of their own: one per service (observability/ only serves them). */
const serviceFolders = readdirSync(join(repositoryRoot, "docker"))
  .filter((name) => existsSync(join(repositoryRoot, "docker", name, "docker-compose.yml")))
  .sort()

describe("docker/Dockerfile", () => {
  it("is multi-stage on Node 24; the final stage runs the bundle as a non-root user in production mode, npm-free", () => {
    const froms = dockerfile.getFROMs()
    assert.isAtLeast(froms.length, 2)
    for (const from of froms) {
      assert.strictEqual(from.getImageName(), "node")
      assert.match(from.getImageTag() ?? "", /^24[-.]/)
    }
    // A multi-arch build (release.yml) builds the platform-free bundle once, natively;
    // only the final stage is of the target platform.
    assert.deepStrictEqual(
      froms.map((from) => from.getPlatformFlag()?.getValue() ?? null),
      [...froms.slice(0, -1).map(() => "$BUILDPLATFORM"), null]
    )
    const env = Object.fromEntries(
      all(Env).flatMap((instruction) =>
        instruction.getProperties().map((property) => [property.getName(), property.getValue()])
      )
    )
    assert.strictEqual(env.NODE_ENV, "production")
    assert.deepStrictEqual(all(User).map(argumentsOf).at(-1), ["node"])
    // Exec form, so Docker's SIGTERM reaches node itself.
    assert.strictEqual(all(Cmd).length, 1)
    assert.deepStrictEqual(command, ["node", "main.mjs"])
    // Nothing is installed or built there: only the bundle (from the build stage) and the SQL arrive.
    assert.deepStrictEqual(all(Run), [])
    for (const copy of all(Copy)) {
      const [source = "", ...rest] = argumentsOf(copy)
      assert.strictEqual(rest.length, 1, `one source per COPY: ${copy.getTextContent()}`)
      assert.notInclude(source, "node_modules")
      if (copy.getFromFlag() === null) assert.match(source, /^sql\//, copy.getTextContent())
      else assert.match(source, /^\/build\/dist\/[^/]+\.mjs$/, copy.getTextContent())
    }
  })

  it("has a bundle entry and an SQL folder for every service folder under docker/", () => {
    assert.deepStrictEqual(serviceFolders, ["crebitos", "payments"])
    for (const folder of serviceFolders) {
      assert.property(entryPoints, folder)
      assert.isTrue(existsSync(join(repositoryRoot, "sql", folder)), `sql/${folder}`)
    }
  })
})

/**
 * The image, without Docker: the build stage's `npm run build` writes the
 * bundles into <root>/build/dist; then the final stage's instructions are
 * followed under <root> — ARG, ENV, WORKDIR, COPY from the build stage or
 * the repository (the build context), CMD — in a folder with no
 * node_modules anywhere above it. What it starts must serve.
 */
describe.each(serviceFolders)("the image built with SERVICE=%s, its final stage followed by hand", (service) => {
  it.live(
    "starts from what the COPY instructions bring, with the ENV and CMD given, and reports healthy",
    () =>
      Effect.gen(function* () {
        const root = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(join(tmpdir(), "rinha-image-"))),
          (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
        )
        yield* Effect.promise(() => bundle(join(root, "build", "dist")))
        const variables: Record<string, string> = {}
        const substitute = (text: string) => text.replace(/\$\{(\w+)\}/g, (_, name: string) => variables[name] ?? "")
        const inImage = (path: string) => join(root, path)
        const environment: Record<string, string> = {}
        let workdir = "/"
        for (const instruction of finalStage) {
          if (instruction instanceof Arg) {
            const name = instruction.getProperty()?.getName() ?? ""
            variables[name] = name === "SERVICE" ? service : (instruction.getProperty()?.getValue() ?? "")
          } else if (instruction instanceof Env) {
            for (const property of instruction.getProperties()) {
              const value = substitute(property.getValue() ?? "")
              // A path inside the image is a path under <root> here.
              environment[property.getName()] = isAbsolute(value) ? inImage(value) : value
            }
          } else if (instruction instanceof Workdir) {
            workdir = substitute(argumentsOf(instruction)[0] ?? "/")
            mkdirSync(inImage(workdir), { recursive: true })
          } else if (instruction instanceof Copy) {
            const [source = "", destination = ""] = argumentsOf(instruction).map(substitute)
            const from = instruction.getFromFlag() === null ? join(repositoryRoot, source) : inImage(source)
            const to = isAbsolute(destination) ? inImage(destination) : join(inImage(workdir), destination)
            mkdirSync(dirname(to), { recursive: true })
            cpSync(from, to, { recursive: true })
          }
        }
        for (let dir = inImage(workdir); dir !== dirname(dir); dir = dirname(dir)) {
          assert.isFalse(existsSync(join(dir, "node_modules")), `no node_modules in ${dir}`)
        }
        const [executable, ...args] = command
        assert.strictEqual(executable, "node")

        const database = yield* freshDatabase
        const port = yield* freePort
        yield* spawnProcess(process.execPath, args, {
          cwd: inImage(workdir),
          // What compose adds: where the database is; the port is a free one here instead of 8080.
          env: { ...environment, DATABASE_URL: database.url, PORT: String(port) },
          ready: /Listening on/
        })
        const status = yield* Effect.tryPromise(() => fetch(`http://127.0.0.1:${port}/healthz`)).pipe(
          Effect.map((response) => response.status),
          Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (answer) => answer === 200, times: 100 }),
          Effect.orElseSucceed(() => 0)
        )
        assert.strictEqual(status, 200)
      }).pipe(Effect.scoped),
    60_000
  )
})
