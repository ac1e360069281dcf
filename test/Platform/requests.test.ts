import { Readable } from "node:stream"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import { CrebitosTest, ledgerState } from "../support/Crebitos.ts"
import { type RawRequest, rawRequest, serverPort } from "../support/Http.ts"

const json = { "content-type": "application/json" }
const transacao = JSON.stringify({ valor: 1, tipo: "c", descricao: "ok" })
const maxBodyBytes = 4096

/** Sends a request to the server under test and checks that nothing was stored. */
const changesNothing = (request: RawRequest) =>
  Effect.gen(function* () {
    const before = yield* ledgerState
    const answer = yield* rawRequest(yield* serverPort, request)
    assert.deepStrictEqual(yield* ledgerState, before, `${request.method} ${request.path}`)
    return answer
  })

const post = (path: string, body: string | Uint8Array | Readable, headers: Readonly<Record<string, string>> = json) =>
  changesNothing({ method: "POST", path, headers, body })

layer(CrebitosTest, { excludeTestServices: true })("every request a client can send, through the real server", (it) => {
  it.effect("a valid transaction still gets its 200 (the guards let it through)", () =>
    Effect.gen(function* () {
      const answer = yield* rawRequest(yield* serverPort, {
        method: "POST",
        path: "/clientes/1/transacoes",
        headers: json,
        body: transacao
      })
      assert.strictEqual(answer.status, 200, answer.body)
    })
  )

  it.effect("a body over MAX_BODY_BYTES: 413 from its Content-Length, or once a chunked body passes the limit", () =>
    Effect.gen(function* () {
      const padded = JSON.stringify({ valor: 1, tipo: "c", descricao: "x", pad: "p".repeat(maxBodyBytes) })
      const byLength = yield* post("/clientes/1/transacoes", padded)
      assert.strictEqual(byLength.status, 413)
      assert.strictEqual(byLength.headers.connection, "close")
      const chunked = yield* post("/clientes/1/transacoes", Readable.from([padded.slice(0, 3000), padded.slice(3000)]))
      assert.strictEqual(chunked.status, 413)
      // Exactly at the limit is read (and then refused for its content, not its size).
      const bare = JSON.stringify({ valor: 1, tipo: "c", descricao: "x", pad: "" })
      const atLimit = bare.replace('"pad":""', `"pad":"${"p".repeat(maxBodyBytes - bare.length)}"`)
      assert.strictEqual(Buffer.byteLength(atLimit), maxBodyBytes)
      assert.strictEqual((yield* post("/clientes/1/transacoes", atLimit)).status, 422)
    })
  )

  it.effect("a body that is not uncompressed JSON in UTF-8: 415", () =>
    Effect.gen(function* () {
      for (const headers of [
        { "content-type": "text/plain" },
        { "content-type": "application/x-www-form-urlencoded" },
        { "content-type": "application/json; charset=latin1" },
        { "content-type": "application/json", "content-encoding": "gzip" },
        {}
      ]) {
        assert.strictEqual(
          (yield* post("/clientes/1/transacoes", transacao, headers)).status,
          415,
          JSON.stringify(headers)
        )
      }
      const utf8 = yield* rawRequest(yield* serverPort, {
        method: "POST",
        path: "/clientes/1/transacoes",
        headers: { "content-type": "application/json; charset=UTF-8" },
        body: transacao
      })
      assert.strictEqual(utf8.status, 200)
    })
  )

  it.effect("invalid UTF-8 is refused with 422, never stored as U+FFFD", () =>
    Effect.gen(function* () {
      const bytes = Buffer.concat([
        Buffer.from('{"valor": 1, "tipo": "c", "descricao": "ab'),
        Buffer.from([0xff, 0xfe]),
        Buffer.from('cd"}')
      ])
      const answer = yield* post("/clientes/1/transacoes", bytes)
      assert.strictEqual(answer.status, 422)
      assert.deepStrictEqual(JSON.parse(answer.body), {
        _tag: "InvalidRequest",
        message: "the body is not valid UTF-8"
      })
    })
  )

  it.effect("a key the contract does not name is refused with 422", () =>
    Effect.gen(function* () {
      const answer = yield* post(
        "/clientes/1/transacoes",
        JSON.stringify({ valor: 1, tipo: "c", descricao: "x", extra: true })
      )
      assert.strictEqual(answer.status, 422, answer.body)
    })
  )

  it.effect("ids only in plain decimal: anything a lenient parse would read as 1 is 404", () =>
    Effect.gen(function* () {
      for (const id of [
        "0x1",
        "1e0",
        "1.0",
        "%201",
        "1%20",
        "01",
        "+1",
        "0",
        "-1",
        "2147483648",
        encodeURIComponent("١")
      ]) {
        assert.strictEqual((yield* post(`/clientes/${id}/transacoes`, transacao)).status, 404, id)
        assert.strictEqual((yield* changesNothing({ method: "GET", path: `/clientes/${id}/extrato` })).status, 404, id)
      }
    })
  )

  it.effect("a known path under another method: 405 with Allow; an unknown path: 404", () =>
    Effect.gen(function* () {
      const cases = [
        { method: "PUT", path: "/clientes/1/extrato", allow: "GET, HEAD" },
        { method: "POST", path: "/clientes/1/extrato", allow: "GET, HEAD" },
        { method: "DELETE", path: "/clientes/1/transacoes", allow: "POST" },
        { method: "GET", path: "/clientes/1/transacoes", allow: "POST" },
        { method: "PATCH", path: "/healthz", allow: "GET, HEAD" }
      ]
      for (const { allow, method, path } of cases) {
        const answer = yield* changesNothing({ method, path })
        assert.strictEqual(answer.status, 405, `${method} ${path}`)
        assert.strictEqual(answer.headers.allow, allow, `${method} ${path}`)
      }
      assert.strictEqual((yield* changesNothing({ method: "GET", path: "/clientes" })).status, 404)
      assert.strictEqual((yield* changesNothing({ method: "DELETE", path: "/nothing/here" })).status, 404)
    })
  )

  it.effect("the OpenAPI document says exactly what the server does", () =>
    Effect.gen(function* () {
      const http = yield* HttpClient.HttpClient
      const spec = (yield* (yield* http.get("/openapi.json")).json) as {
        paths: Record<string, Record<string, { parameters?: Array<{ schema: unknown }>; responses: object }>>
      }
      const post = spec.paths["/clientes/{id}/transacoes"]?.post
      const get = spec.paths["/clientes/{id}/extrato"]?.get
      assert.deepStrictEqual(post?.parameters?.[0]?.schema, { type: "integer", minimum: 1, maximum: 2_147_483_647 })
      assert.deepStrictEqual(get?.parameters?.[0]?.schema, { type: "integer", minimum: 1, maximum: 2_147_483_647 })
      assert.includeMembers(Object.keys(post?.responses ?? {}), ["200", "404", "413", "415", "422", "503"])
      assert.notIncludeMembers(Object.keys(get?.responses ?? {}), ["413", "415"])
      const body = JSON.stringify(post)
      assert.include(body, '"additionalProperties":false')
      assert.include(body, '"minLength":1,"maxLength":10')
    })
  )
})
