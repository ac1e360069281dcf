import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import { environment, eventually, instance, newPayment, pay, summaryOf, totalRecorded } from "../support/Payments.ts"

/** A valid RFC 3339 date-time whose instant is in year 0 in UTC (schemathesis found it: a 500 from PostgreSQL). */
const yearZero = encodeURIComponent("0001-01-01T01:00:12+07:10")

describe("GET /payments-summary's range", () => {
  it.live("takes any RFC 3339 instant as a bound, one before year 1 in UTC too", () =>
    Effect.gen(function* () {
      const env = yield* environment()
      const service = yield* instance(env)
      yield* pay(service, newPayment())
      yield* eventually(summaryOf(service), (summary) => totalRecorded(summary) === 1)
      const counted = (query: string) =>
        Effect.promise(async () => {
          const response = await fetch(`${service.url}/payments-summary?${query}`)
          const body: unknown = await response.json()
          return { status: response.status, body: JSON.stringify(body) }
        })
      const before = yield* counted(`to=${yearZero}`)
      assert.strictEqual(before.status, 200)
      assert.include(before.body, '"default":{"totalRequests":0')
      const since = yield* counted(`from=${yearZero}`)
      assert.strictEqual(since.status, 200)
      assert.include(since.body, '"default":{"totalRequests":1')
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
  )
})
