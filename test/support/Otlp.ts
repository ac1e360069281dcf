import { createServer } from "node:http"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"

/** One export as it reached the receiver. */
export interface Export {
  readonly path: string
  readonly contentType: string | undefined
  readonly body: Buffer
}

/**
 * An OTLP/HTTP receiver on a free port: it answers every export 200 and
 * keeps what it was sent, in order.
 */
export class OtlpReceiver extends Context.Service<
  OtlpReceiver,
  { readonly endpoint: string; readonly exports: ReadonlyArray<Export> }
>()("test/OtlpReceiver") {
  static readonly layer = Layer.effect(
    this,
    Effect.acquireRelease(
      Effect.callback<{ readonly endpoint: string; readonly exports: Array<Export>; readonly close: () => void }>(
        (resume) => {
          const exports: Array<Export> = []
          const server = createServer((request, response) => {
            const chunks: Array<Buffer> = []
            request.on("data", (chunk: Buffer) => chunks.push(chunk))
            request.once("end", () => {
              exports.push({
                path: request.url ?? "",
                contentType: request.headers["content-type"],
                body: Buffer.concat(chunks)
              })
              response.writeHead(200, { "content-type": "application/json" }).end("{}")
            })
          })
          server.listen(0, "127.0.0.1", () => {
            const address = server.address()
            const port = typeof address === "object" && address !== null ? address.port : 0
            resume(Effect.succeed({ endpoint: `http://127.0.0.1:${port}`, exports, close: () => server.close() }))
          })
        }
      ),
      ({ close }) => Effect.sync(close)
    )
  )
}

const AnyValue = Schema.Struct({
  stringValue: Schema.optional(Schema.String),
  intValue: Schema.optional(Schema.Union([Schema.String, Schema.Number])),
  doubleValue: Schema.optional(Schema.Number),
  boolValue: Schema.optional(Schema.Boolean)
})
const Attributes = Schema.Array(Schema.Struct({ key: Schema.String, value: AnyValue }))

const Span = Schema.Struct({
  traceId: Schema.String,
  spanId: Schema.String,
  parentSpanId: Schema.optional(Schema.String),
  name: Schema.String,
  kind: Schema.Number,
  attributes: Attributes,
  links: Schema.optional(Schema.Array(Schema.Struct({ traceId: Schema.String, spanId: Schema.String })))
})
export type Span = typeof Span.Type

/** The body of an OTLP/HTTP JSON traces export (opentelemetry-proto's `ExportTraceServiceRequest`). */
const TracesRequest = Schema.Struct({
  resourceSpans: Schema.Array(
    Schema.Struct({
      resource: Schema.Struct({ attributes: Attributes }),
      scopeSpans: Schema.Array(Schema.Struct({ spans: Schema.Array(Span) }))
    })
  )
})

export interface ReceivedSpan extends Span {
  /** The `service.name` of the resource it came with. */
  readonly service: string | undefined
}

const stringAttribute = (attributes: typeof Attributes.Type, key: string) =>
  attributes.find((attribute) => attribute.key === key)?.value.stringValue

/** Every span of the JSON exports received so far. */
export const receivedSpans = (exports: ReadonlyArray<Export>): ReadonlyArray<ReceivedSpan> =>
  exports
    .filter((received) => received.path === "/v1/traces")
    .flatMap(
      (received) => Schema.decodeUnknownSync(TracesRequest)(JSON.parse(received.body.toString("utf8"))).resourceSpans
    )
    .flatMap(({ resource, scopeSpans }) =>
      scopeSpans.flatMap(({ spans }) =>
        spans.map((span) => ({ ...span, service: stringAttribute(resource.attributes, "service.name") }))
      )
    )

/** A span attribute's value, whatever its OTLP type. */
export const attribute = (span: Span, key: string) => {
  const value = span.attributes.find((candidate) => candidate.key === key)?.value
  return value?.stringValue ?? value?.intValue ?? value?.doubleValue ?? value?.boolValue
}

/** OTLP's span kinds. */
export const SpanKind = { internal: 1, server: 2, client: 3, consumer: 5 } as const
