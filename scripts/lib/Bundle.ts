/**
 * `npm run build`: one self-contained ES module per service in dist/, what
 * the container and the stack run. Measured against running the sources
 * (type stripping + node_modules): start-up 250 ms instead of 640 ms, and
 * 57 MB less RSS per process (README, "Deployment").
 */

import { fileURLToPath } from "node:url"
import * as Effect from "effect/Effect"
import { build } from "esbuild"

const root = fileURLToPath(new URL("../..", import.meta.url))

/** Each bundle's name (dist/<name>.mjs) and its entry point. */
export const entryPoints = {
  crebitos: "src/Crebitos/main.ts",
  payments: "src/Payments/main.ts",
  "processor-sim": "src/ProcessorSim/main.ts"
} as const
/** The services with a compose file of their own under docker/. */
export type ServiceName = "crebitos" | "payments"

/** Writes every bundle into `outdir` (dist/ by default, relative to the repository root). */
export const bundle = (outdir = "dist") =>
  build({
    absWorkingDir: root,
    entryPoints,
    outdir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node24",
    minify: true,
    sourcemap: "linked",
    // Bundled CommonJS dependencies (ws, undici) call require() for Node's
    // built-in modules, which an ES module has to be given.
    banner: {
      js: "import { createRequire as bundleRequire } from 'node:module'; const require = bundleRequire(import.meta.url);"
    },
    logLevel: "warning"
  })

let building: ReturnType<typeof bundle> | undefined

/**
 * dist/ built from the sources once per process: a command that starts the
 * simulators and then the stack, or a stack per fault, builds it once
 * (~1.5 s each time otherwise).
 */
export const buildOnce = Effect.promise(() => {
  building ??= bundle()
  return building
})

if (import.meta.main) await bundle()
