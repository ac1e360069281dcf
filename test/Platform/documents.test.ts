import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as OpenApi from "effect/http-api/OpenApi"
import * as Schema from "effect/Schema"
import { Api as PaymentsApi } from "../../src/Payments/Api.ts"
import { Instant } from "../../src/Platform/Validation.ts"
import { ProcessorSimApi } from "../../src/ProcessorSim/Api.ts"

const accepts = Schema.is(Schema.toEncoded(Instant))
const decode = Schema.decodeUnknownSync(Instant)

describe("what a document promises about its strings and numbers, the server takes (schemathesis's positive_data_acceptance)", () => {
  it("an instant is any RFC 3339 date-time on a day that exists, and nothing else", () => {
    for (const text of [
      "2020-01-01T00:00:00Z",
      "2000-02-29t23:59:59.123456z",
      "0001-01-01T23:59:00+23:59",
      "9999-12-31T23:59:59Z"
    ]) {
      assert.isTrue(accepts(text), text)
      decode(text)
    }
    for (const text of [
      "",
      "2020",
      "2020-01-01",
      "2020-02-31T00:00:00Z",
      "2021-02-29T00:00:00Z",
      "2020-01-01T00:00:60Z",
      "2020-01-01 00:00:00Z"
    ]) {
      assert.isFalse(accepts(text), text)
    }
    assert.strictEqual(DateTime.toEpochMillis(decode("2020-01-01T03:00:00+03:00")), Date.UTC(2020, 0, 1))
  })

  it("documents every instant as a date-time, and a payment's amount in whole cents", () => {
    const payments = JSON.stringify(OpenApi.fromApi(PaymentsApi).paths["/payments-summary"])
    assert.include(payments, '"name":"from","in":"query","schema":{"type":"string","format":"date-time"}')
    assert.include(payments, '"name":"to","in":"query","schema":{"type":"string","format":"date-time"}')
    assert.include(JSON.stringify(OpenApi.fromApi(PaymentsApi).paths["/payments"]), '"multipleOf":0.01')
    const simulator = JSON.stringify(OpenApi.fromApi(ProcessorSimApi).paths["/payments"])
    assert.include(simulator, '"requestedAt":{"type":"string","format":"date-time"}')
  })

  it("the simulator documents its 400 for a request it cannot decode, on every operation", () => {
    for (const [path, item] of Object.entries(OpenApi.fromApi(ProcessorSimApi).paths)) {
      for (const [method, operation] of Object.entries(item)) {
        if (typeof operation !== "object" || operation === null || !("responses" in operation)) continue
        assert.property(operation.responses, "400", `${method} ${path}`)
      }
    }
  })
})
