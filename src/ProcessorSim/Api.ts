import * as Effect from "effect/Effect"
import * as HttpApi from "effect/http-api/HttpApi"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiError from "effect/http-api/HttpApiError"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import * as HttpApiMiddleware from "effect/http-api/HttpApiMiddleware"
import * as HttpApiSecurity from "effect/http-api/HttpApiSecurity"
import * as OpenApi from "effect/http-api/OpenApi"
import * as Schema from "effect/Schema"
import { strict } from "../Platform/Validation.ts"
import {
  DelayChange,
  DelayChanged,
  DuplicatePayment,
  FailureChange,
  FailureChanged,
  HealthRateLimitedResponse,
  Message,
  Payment,
  PaymentNotFound,
  PaymentRequest,
  PaymentsSummary,
  ProcessorFailing,
  ProcessorOverloaded,
  ProcessorStats,
  ServiceHealth,
  SummaryRange,
  TokenChange
} from "./Domain.ts"

/**
 * A request the simulator cannot decode: a bare 400, as the contest's
 * processor answers (422 means "already held" to its clients). A middleware
 * of the whole API, so that every endpoint's document lists it.
 */
export class MalformedRequest extends HttpApiMiddleware.Service<MalformedRequest>()("ProcessorSim/MalformedRequest", {
  error: HttpApiError.BadRequest
}) {}

export const MalformedRequestLive = HttpApiMiddleware.layerSchemaErrorTransform(MalformedRequest, () =>
  Effect.fail(new HttpApiError.BadRequest())
)

export const PaymentsGroup = HttpApiGroup.make("payments")
  .add(
    HttpApiEndpoint.post("process", "/payments", {
      payload: PaymentRequest,
      success: Message,
      error: [DuplicatePayment, ProcessorFailing, ProcessorOverloaded]
    })
  )
  .add(
    HttpApiEndpoint.get("health", "/payments/service-health", {
      success: ServiceHealth,
      error: HealthRateLimitedResponse
    })
  )
  .add(
    // Any id: one that is not a UUID is simply not held (404).
    HttpApiEndpoint.get("find", "/payments/:id", {
      params: { id: Schema.String },
      success: Payment,
      error: PaymentNotFound
    })
  )

/** Every `/admin/*` call needs `X-Rinha-Token` equal to the current token, else 401. */
export class AdminAuthorization extends HttpApiMiddleware.Service<AdminAuthorization>()(
  "ProcessorSim/AdminAuthorization",
  {
    error: HttpApiError.Unauthorized,
    security: { token: HttpApiSecurity.apiKey({ key: "X-Rinha-Token", in: "header" }) }
  }
) {}

export const AdminGroup = HttpApiGroup.make("admin")
  .add(HttpApiEndpoint.get("summary", "/payments-summary", { query: SummaryRange, success: PaymentsSummary }))
  .add(HttpApiEndpoint.put("setToken", "/configurations/token", { payload: TokenChange }))
  .add(HttpApiEndpoint.put("setDelay", "/configurations/delay", { payload: DelayChange, success: DelayChanged }))
  .add(
    HttpApiEndpoint.put("setFailure", "/configurations/failure", { payload: FailureChange, success: FailureChanged })
  )
  .add(HttpApiEndpoint.post("purge", "/purge-payments", { success: Message }))
  .add(
    HttpApiEndpoint.get("stats", "/stats", { success: ProcessorStats }).annotate(
      OpenApi.Description,
      "Simulator only, not in the contest's processor: health calls answered and refused, payments refused."
    )
  )
  .prefix("/admin")
  .middleware(AdminAuthorization)

/**
 * The Payment Processor of the Rinha de Backend 2025, as the contest runs it,
 * plus one route of its own: `GET /admin/stats` (see `ProcessorStats`).
 */
export const ProcessorSimApi = strict(
  HttpApi.make("processor-sim").add(PaymentsGroup).add(AdminGroup).middleware(MalformedRequest)
)
