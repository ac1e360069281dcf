import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import type { TestProject } from "vitest/node"
import * as EmbeddedPostgres from "../../local/EmbeddedPostgres.ts"

declare module "vitest" {
  export interface ProvidedContext {
    /** A superuser URL of the PostgreSQL server the whole run shares. */
    readonly postgresUrl: string
  }
}

/** One real PostgreSQL for the whole run; each test file makes its own database on it. */
export default async function setup(project: TestProject) {
  const scope = Scope.makeUnsafe()
  const pg = await Effect.runPromise(
    EmbeddedPostgres.start({ dataDir: Option.none(), port: Option.none() }).pipe(Scope.provide(scope))
  )
  project.provide("postgresUrl", Redacted.value(pg.url))
  return () => Effect.runPromise(Scope.close(scope, Exit.void))
}
