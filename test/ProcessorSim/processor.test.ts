import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpServer from "effect/http/HttpServer"
import * as HttpApiClient from "effect/http-api/HttpApiClient"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { ProcessorSimApi } from "../../src/ProcessorSim/Api.ts"
import { ProcessorSimServer } from "../../src/ProcessorSim/main.ts"

/** The real simulator on an ephemeral port, configured by `env`, and an HttpClient aimed at it. */
const processorWith = (env: Record<string, string>) =>
  HttpServer.layerTestClient.pipe(
    Layer.provide(FetchHttpClient.layer),
    Layer.provideMerge(ProcessorSimServer),
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: { PORT: "0", ...env } })))
  )

/** The typed client, sending `token` as `X-Rinha-Token` when given. */
const clientWith = (token?: string) =>
  HttpApiClient.make(ProcessorSimApi, {
    transformClient:
      token === undefined ? undefined : HttpClient.mapRequest(HttpClientRequest.setHeader("x-rinha-token", token))
  })

/** Sends a request as written and reads the whole answer, however long it takes. */
const send = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.gen(function* () {
    const http = yield* HttpClient.HttpClient
    const [elapsed, response] = yield* Effect.timed(http.execute(request))
    return { status: response.status, headers: response.headers, body: yield* response.text, elapsed }
  }).pipe(Effect.orDie)

const json = (request: HttpClientRequest.HttpClientRequest, body: unknown) =>
  HttpClientRequest.bodyText(request, JSON.stringify(body), "application/json")

const postPayment = (body: { correlationId: string; amount: number; requestedAt: string }) =>
  send(json(HttpClientRequest.post("/payments"), body))

const payment = (amount: number, requestedAt = "2025-07-15T12:00:00.000Z") => ({
  correlationId: randomUUID(),
  amount,
  requestedAt
})

const withToken = (token: string) => HttpClientRequest.setHeader("x-rinha-token", token)

const token = "secret"

/** Back to the initial state between tests: no payments, no delay, not failing. */
const reset = Effect.gen(function* () {
  const admin = (yield* clientWith(token)).admin
  yield* admin.purge()
  yield* admin.setDelay({ payload: { delay: 0 } })
  yield* admin.setFailure({ payload: { failure: false } })
}).pipe(Effect.orDie)

const summary = (query: { from?: DateTime.Utc; to?: DateTime.Utc } = {}) =>
  Effect.flatMap(clientWith(token), (client) => client.admin.summary({ query })).pipe(Effect.orDie)

const find = (correlationId: string) => send(HttpClientRequest.get(`/payments/${correlationId}`))

const readAmount = Schema.decodeUnknownSync(Schema.fromJsonString(Schema.Struct({ amount: Schema.Number })))

const readPaths = Schema.decodeUnknownSync(
  Schema.fromJsonString(Schema.Struct({ paths: Schema.Record(Schema.String, Schema.Unknown) }))
)

layer(
  processorWith({
    PROCESSOR_FEE: "0.15",
    PROCESSOR_TOKEN: token,
    MAX_IN_FLIGHT: "2",
    MAX_QUEUED: "1"
  }),
  { excludeTestServices: true }
)("a processor configured by the environment", (it) => {
  it.effect("stores a payment with its amount rounded to the cent and answers it by id", () =>
    Effect.gen(function* () {
      yield* reset
      const roundedUp = payment(19.905, "2025-07-15T12:34:56.789Z")
      const stored = yield* postPayment(roundedUp)
      assert.strictEqual(stored.status, 200)
      assert.deepStrictEqual(JSON.parse(stored.body), { message: "payment processed successfully" })
      const answer = yield* find(roundedUp.correlationId)
      assert.strictEqual(answer.status, 200)
      assert.deepStrictEqual(JSON.parse(answer.body), { ...roundedUp, amount: 19.91 })

      const client = yield* clientWith()
      const halfCent = payment(1.005)
      const roundedDown = payment(10.994)
      yield* client.payments.process({
        payload: { ...halfCent, requestedAt: DateTime.makeUnsafe(halfCent.requestedAt) }
      })
      yield* client.payments.process({
        payload: { ...roundedDown, requestedAt: DateTime.makeUnsafe(roundedDown.requestedAt) }
      })
      assert.strictEqual((yield* client.payments.find({ params: { id: halfCent.correlationId } })).amount, 1.01)
      assert.strictEqual((yield* client.payments.find({ params: { id: roundedDown.correlationId } })).amount, 10.99)
      const { totalAmount, totalRequests } = yield* summary()
      assert.deepStrictEqual({ totalAmount, totalRequests }, { totalAmount: 31.91, totalRequests: 3 })

      assert.strictEqual((yield* find(randomUUID())).status, 404)
      assert.strictEqual((yield* find("not-a-uuid")).status, 404)
    })
  )

  it.effect("refuses invalid payments with 400 (422 means already held) and stores nothing", () =>
    Effect.gen(function* () {
      yield* reset
      const valid = payment(10)
      const invalid = [
        { ...valid, correlationId: "not-a-uuid" },
        { ...valid, amount: 0 },
        { ...valid, amount: -5 },
        { ...valid, requestedAt: "yesterday" },
        { correlationId: valid.correlationId, amount: 10 }
      ]
      for (const body of invalid) {
        assert.strictEqual((yield* send(json(HttpClientRequest.post("/payments"), body))).status, 400)
      }
      // Not UTF-8: the same 400 (the platform's default is 422), on the admin routes too.
      const notUtf8 = new Uint8Array([...Buffer.from(`{"token":"ab`), 0xff, 0xfe, ...Buffer.from(`"}`)])
      for (const request of [
        HttpClientRequest.post("/payments"),
        HttpClientRequest.put("/admin/configurations/token")
      ]) {
        const sent = request.pipe(
          HttpClientRequest.setHeader("x-rinha-token", token),
          HttpClientRequest.bodyUint8Array(notUtf8, "application/json")
        )
        const answer = yield* send(sent)
        assert.strictEqual(answer.status, 400)
        // What the document says a 400 is.
        assert.strictEqual(answer.body, `{"_tag":"BadRequest"}`)
      }
      assert.strictEqual((yield* summary()).totalRequests, 0)
    })
  )

  it.effect("the fee comes from the environment and the total fee is rounded half up to the cent", () =>
    Effect.gen(function* () {
      yield* reset
      for (const amount of [19.9, 19.9, 19.9]) yield* postPayment(payment(amount))
      // 59.70 × 0.15 = 8.955
      assert.deepStrictEqual(yield* summary(), {
        totalRequests: 3,
        totalAmount: 59.7,
        totalFee: 8.96,
        feePerTransaction: 0.15
      })
    })
  )

  it.effect("a payment is answered only after the delay; reading one by id is not delayed", () =>
    Effect.gen(function* () {
      yield* reset
      const admin = (yield* clientWith(token)).admin
      yield* admin.setDelay({ payload: { delay: 200 } })
      const delayed = payment(5)
      const answer = yield* postPayment(delayed)
      assert.strictEqual(answer.status, 200)
      assert.isAtLeast(Duration.toMillis(answer.elapsed), 200)
      const read = yield* find(delayed.correlationId)
      assert.strictEqual(read.status, 200)
      assert.isBelow(Duration.toMillis(read.elapsed), 150)
    })
  )

  it.effect("a failing processor answers 500 after the delay and stores nothing", () =>
    Effect.gen(function* () {
      yield* reset
      yield* postPayment(payment(7))
      const before = yield* summary()
      const admin = (yield* clientWith(token)).admin
      yield* admin.setFailure({ payload: { failure: true } })
      yield* admin.setDelay({ payload: { delay: 150 } })
      const refused = payment(3)
      const answer = yield* postPayment(refused)
      assert.strictEqual(answer.status, 500)
      assert.isAtLeast(Duration.toMillis(answer.elapsed), 150)
      assert.strictEqual((yield* find(refused.correlationId)).status, 404)
      assert.deepStrictEqual(yield* summary(), before)
    })
  )

  it.effect("a correlationId already held gets 422 only after the delay, and nothing changes", () =>
    Effect.gen(function* () {
      yield* reset
      const first = payment(10)
      assert.strictEqual((yield* postPayment(first)).status, 200)
      const admin = (yield* clientWith(token)).admin
      yield* admin.setDelay({ payload: { delay: 200 } })
      const again = yield* postPayment({ ...first, amount: 99, requestedAt: "2025-07-16T00:00:00.000Z" })
      assert.strictEqual(again.status, 422)
      assert.isAtLeast(Duration.toMillis(again.elapsed), 200)
      assert.deepStrictEqual(JSON.parse((yield* find(first.correlationId)).body), first)
      const { totalAmount, totalRequests } = yield* summary()
      assert.deepStrictEqual({ totalAmount, totalRequests }, { totalAmount: 10, totalRequests: 1 })
    })
  )

  it.effect("admits MAX_IN_FLIGHT payments, queues MAX_QUEUED more, and refuses the rest with 429", () =>
    Effect.gen(function* () {
      yield* reset
      const admin = (yield* clientWith(token)).admin
      const rejectedBefore = (yield* admin.stats()).paymentsRejected
      yield* admin.setDelay({ payload: { delay: 300 } })
      const answers = yield* Effect.all(
        Array.from({ length: 4 }, () => postPayment(payment(1))),
        { concurrency: "unbounded" }
      )
      const byTime = answers.toSorted((a, b) => Duration.toMillis(a.elapsed) - Duration.toMillis(b.elapsed))
      const [refused, ...admitted] = byTime
      assert.deepStrictEqual(
        byTime.map(({ status }) => status),
        [429, 200, 200, 200]
      )
      assert.isBelow(Duration.toMillis(refused?.elapsed ?? Duration.infinity), 150)
      // Two run at once; the queued one starts when one of them is done.
      assert.isAtLeast(Duration.toMillis(admitted[2]?.elapsed ?? Duration.zero), 590)
      assert.strictEqual((yield* summary()).totalRequests, 3)
      assert.strictEqual((yield* admin.stats()).paymentsRejected, rejectedBefore + 1)
      // The places are free again.
      assert.strictEqual((yield* postPayment(payment(1))).status, 200)
    })
  )

  it.effect("a payment whose client gave up is still processed", () =>
    Effect.gen(function* () {
      yield* reset
      const admin = (yield* clientWith(token)).admin
      yield* admin.setDelay({ payload: { delay: 300 } })
      const abandoned = payment(42)
      const gaveUp = yield* postPayment(abandoned).pipe(Effect.timeoutOption("100 millis"))
      assert.isTrue(Option.isNone(gaveUp))
      yield* Effect.sleep("400 millis")
      const read = yield* find(abandoned.correlationId)
      assert.strictEqual(read.status, 200)
      assert.strictEqual(readAmount(read.body).amount, 42)
    })
  )

  it.effect("the admin summary counts requestedAt in [from, to] inclusive, and everything without both bounds", () =>
    Effect.gen(function* () {
      yield* reset
      const at = ["2025-07-15T12:00:00.000Z", "2025-07-15T12:00:05.000Z", "2025-07-15T12:00:10.000Z"]
      for (const [index, requestedAt] of at.entries()) yield* postPayment(payment(index + 1, requestedAt))
      const instant = (index: number, plusMillis = 0) =>
        DateTime.add(DateTime.makeUnsafe(at[index] ?? ""), { milliseconds: plusMillis })
      const counted = (query: { from?: DateTime.Utc; to?: DateTime.Utc }) =>
        Effect.map(summary(query), ({ totalAmount, totalRequests }) => ({ totalAmount, totalRequests }))

      assert.deepStrictEqual(yield* counted({ from: instant(0), to: instant(1) }), { totalAmount: 3, totalRequests: 2 })
      assert.deepStrictEqual(yield* counted({ from: instant(0, 1), to: instant(2, -1) }), {
        totalAmount: 2,
        totalRequests: 1
      })
      assert.deepStrictEqual(yield* counted({ from: instant(2, 1), to: instant(2, 2) }), {
        totalAmount: 0,
        totalRequests: 0
      })
      assert.deepStrictEqual(yield* counted({ from: instant(2) }), { totalAmount: 6, totalRequests: 3 })
      assert.deepStrictEqual(yield* counted({ to: instant(0) }), { totalAmount: 6, totalRequests: 3 })
      assert.deepStrictEqual(yield* counted({}), { totalAmount: 6, totalRequests: 3 })
    })
  )

  it.effect("every admin endpoint answers 401 without the token or with a wrong one, and changes nothing", () =>
    Effect.gen(function* () {
      yield* reset
      yield* postPayment(payment(1))
      const adminRequests = [
        HttpClientRequest.get("/admin/payments-summary"),
        json(HttpClientRequest.put("/admin/configurations/token"), { token: "stolen" }),
        json(HttpClientRequest.put("/admin/configurations/delay"), { delay: 999 }),
        // The token is checked before the payload is read.
        json(HttpClientRequest.put("/admin/configurations/delay"), { delay: "not a number" }),
        json(HttpClientRequest.put("/admin/configurations/failure"), { failure: true }),
        HttpClientRequest.post("/admin/purge-payments"),
        HttpClientRequest.get("/admin/stats")
      ]
      for (const request of adminRequests) {
        assert.strictEqual((yield* send(request)).status, 401, request.url)
        assert.strictEqual((yield* send(withToken("123")(request))).status, 401, request.url)
        assert.strictEqual((yield* send(withToken(`${token}x`)(request))).status, 401, request.url)
      }
      const admin = (yield* clientWith(token)).admin
      assert.strictEqual((yield* summary()).totalRequests, 1)
      assert.deepStrictEqual(yield* admin.setDelay({ payload: { delay: 0 } }), { config: "delay", was: 0, is: 0 })
      assert.deepStrictEqual(yield* admin.setFailure({ payload: { failure: false } }), {
        config: "failure",
        was: false,
        is: false
      })
    })
  )

  it.effect("a new token takes effect at once: the old one gets 401", () =>
    Effect.gen(function* () {
      yield* reset
      const changed = yield* send(
        withToken(token)(json(HttpClientRequest.put("/admin/configurations/token"), { token: "next" }))
      )
      assert.strictEqual(changed.status, 204)
      assert.strictEqual((yield* send(withToken(token)(HttpClientRequest.get("/admin/stats")))).status, 401)
      assert.strictEqual((yield* send(withToken("next")(HttpClientRequest.get("/admin/stats")))).status, 200)
    }).pipe(
      Effect.ensuring(
        Effect.flatMap(clientWith("next"), (client) => client.admin.setToken({ payload: { token } })).pipe(
          Effect.ignore
        )
      )
    )
  )

  it.effect("the delay and failure settings answer what they were and what they are", () =>
    Effect.gen(function* () {
      yield* reset
      const admin = (yield* clientWith(token)).admin
      assert.deepStrictEqual(yield* admin.setDelay({ payload: { delay: 100 } }), { config: "delay", was: 0, is: 100 })
      assert.deepStrictEqual(yield* admin.setDelay({ payload: { delay: 20 } }), { config: "delay", was: 100, is: 20 })
      assert.deepStrictEqual(yield* admin.setFailure({ payload: { failure: true } }), {
        config: "failure",
        was: false,
        is: true
      })
      assert.deepStrictEqual(yield* admin.setFailure({ payload: { failure: false } }), {
        config: "failure",
        was: true,
        is: false
      })
    })
  )

  it.effect("purging deletes every payment", () =>
    Effect.gen(function* () {
      yield* reset
      const kept = [payment(1), payment(2)]
      for (const body of kept) yield* postPayment(body)
      assert.strictEqual((yield* summary()).totalRequests, 2)
      const purged = yield* send(withToken(token)(HttpClientRequest.post("/admin/purge-payments")))
      assert.strictEqual(purged.status, 200)
      assert.property(JSON.parse(purged.body), "message")
      assert.deepStrictEqual(yield* summary(), {
        totalRequests: 0,
        totalAmount: 0,
        totalFee: 0,
        feePerTransaction: 0.15
      })
      for (const { correlationId } of kept) assert.strictEqual((yield* find(correlationId)).status, 404)
    })
  )
})

const window = 400

layer(processorWith({ HEALTH_WINDOW: `${window} millis` }), { excludeTestServices: true })(
  "the health endpoint",
  (it) => {
    it.effect("one call per window for all callers; two more wait for the next windows, the rest get 429", () =>
      Effect.gen(function* () {
        const admin = (yield* clientWith("123")).admin
        yield* admin.setDelay({ payload: { delay: 25 } })
        yield* admin.setFailure({ payload: { failure: true } })
        const answers = yield* Effect.all(
          Array.from({ length: 4 }, () => send(HttpClientRequest.get("/payments/service-health"))),
          { concurrency: "unbounded" }
        )
        const byTime = answers.toSorted((a, b) => Duration.toMillis(a.elapsed) - Duration.toMillis(b.elapsed))
        const refused = byTime.find(({ status }) => status === 429)
        const answered = byTime.filter(({ status }) => status === 200)
        assert.strictEqual(answered.length, 3)
        assert.strictEqual(refused?.headers["retry-after"], "5")
        assert.isBelow(Duration.toMillis(refused?.elapsed ?? Duration.infinity), 150)
        for (const { body } of answered)
          assert.deepStrictEqual(JSON.parse(body), { failing: true, minResponseTime: 25 })
        const [now, nextWindow, windowAfter] = answered.map(({ elapsed }) => Duration.toMillis(elapsed))
        assert.isBelow(now ?? Infinity, 150)
        assert.approximately(nextWindow ?? 0, window, 100)
        assert.approximately(windowAfter ?? 0, 2 * window, 100)
        assert.deepStrictEqual(yield* admin.stats(), { healthCalls: 3, healthRejected: 1, paymentsRejected: 0 })
      })
    )
  }
)

layer(processorWith({}), { excludeTestServices: true })("a processor with nothing configured", (it) => {
  it.effect("starts with fee 0.05, token 123, no delay and not failing", () =>
    Effect.gen(function* () {
      const client = yield* clientWith("123")
      assert.strictEqual((yield* client.admin.summary({ query: {} })).feePerTransaction, 0.05)
      assert.deepStrictEqual(yield* client.payments.health(), { failing: false, minResponseTime: 0 })
      assert.strictEqual((yield* send(withToken("secret")(HttpClientRequest.get("/admin/stats")))).status, 401)
    })
  )

  it.effect("documents every endpoint in its OpenAPI document", () =>
    Effect.gen(function* () {
      const openapi = yield* send(HttpClientRequest.get("/openapi.json"))
      assert.strictEqual(openapi.status, 200)
      const paths = Object.keys(readPaths(openapi.body).paths)
      assert.includeMembers(paths, [
        "/payments",
        "/payments/service-health",
        "/payments/{id}",
        "/admin/payments-summary",
        "/admin/configurations/token",
        "/admin/configurations/delay",
        "/admin/configurations/failure",
        "/admin/purge-payments",
        "/admin/stats"
      ])
    })
  )
})
