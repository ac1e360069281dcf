import * as HttpApi from "effect/http-api/HttpApi"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import * as HttpApiSchema from "effect/http-api/HttpApiSchema"
import * as Schema from "effect/Schema"
import { HealthGroup } from "../Platform/Health.ts"
import { RequestValidation, strict } from "../Platform/Validation.ts"
import { PaymentRequest, PaymentsSummary, SummaryRange } from "./Domain.ts"

export const PaymentsGroup = HttpApiGroup.make("payments")
  .add(
    // 202: taken for processing, not processed yet.
    HttpApiEndpoint.post("pay", "/payments", { payload: PaymentRequest, success: HttpApiSchema.Empty(202) })
  )
  .add(HttpApiEndpoint.get("summary", "/payments-summary", { query: SummaryRange, success: PaymentsSummary }))
  .add(
    HttpApiEndpoint.post("purge", "/purge-payments", {
      success: Schema.Struct({ message: Schema.String })
    })
  )

export const Api = strict(HttpApi.make("payments").add(PaymentsGroup).add(HealthGroup).middleware(RequestValidation))
