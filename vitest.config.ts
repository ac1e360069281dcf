import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/globalSetup.ts"],
    // Each file starts servers and child processes against a shared PostgreSQL.
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
