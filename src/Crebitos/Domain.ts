import * as Schema from "effect/Schema"
import { maxInt4, PathId } from "../Platform/Validation.ts"

/**
 * A client id as it appears in the path: a positive 32-bit integer in plain
 * decimal. Anything else cannot name a client and is answered 404.
 */
export const ClienteId = PathId
export type ClienteId = typeof ClienteId.Type

/** Cents; positive and small enough for the database column. */
export const Valor = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: maxInt4 }))

export const Tipo = Schema.Literals(["c", "d"]).annotate({ description: "c: credit, d: debit" })
export type Tipo = typeof Tipo.Type

/**
 * 1 to 10 characters, counted as JSON Schema and PostgreSQL count them
 * (Unicode code points), so the OpenAPI document's `minLength`/`maxLength`
 * say exactly what is accepted; without NUL, which PostgreSQL text cannot
 * hold, and without a lone surrogate (`"\ud800"` is valid JSON but no
 * Unicode text; JSON Schema has no word for it, as its strings are code
 * points already).
 */
const invalid = "must be 1 to 10 characters of Unicode text without NUL"

const isOneToTenCharacters = Schema.makeFilter<string>(
  (text) => {
    if (text.length === 0 || text.includes("\u0000") || !text.isWellFormed()) return invalid
    // At most 2 UTF-16 units per code point: up to 10 units is always short
    // enough, and only longer texts need counting.
    if (text.length <= 10) return true
    let count = 0
    for (const _ of text) if (++count > 10) return invalid
    return true
  },
  {
    toJsonSchema: () => ({ minLength: 1, maxLength: 10, pattern: "^[^\\u0000]*$" }),
    arbitraryConstraint: { minLength: 1, maxLength: 10 }
  }
)

export const Descricao = Schema.String.check(isOneToTenCharacters)

/** The body of `POST /clientes/:id/transacoes`; a key it does not name is refused (see `strict`). */
export const Transacao = Schema.Struct({ valor: Valor, tipo: Tipo, descricao: Descricao })
export type Transacao = typeof Transacao.Type

/** The answer to an accepted transaction. */
export const SaldoAtual = Schema.Struct({ limite: Schema.Int, saldo: Schema.Int })
export type SaldoAtual = typeof SaldoAtual.Type

/** ISO-8601 in UTC, as PostgreSQL renders it (`iso_utc` in sql/). */
const InstanteUtc = Schema.String.annotate({ description: "ISO-8601 UTC, e.g. 2024-01-17T02:34:41.217753Z" })

export const TransacaoRealizada = Schema.Struct({
  valor: Schema.Int,
  tipo: Tipo,
  descricao: Schema.String,
  realizada_em: InstanteUtc
})

export const Extrato = Schema.Struct({
  saldo: Schema.Struct({ total: Schema.Int, data_extrato: InstanteUtc, limite: Schema.Int }),
  ultimas_transacoes: Schema.Array(TransacaoRealizada).annotate({ description: "at most 10, newest first" })
})
export type Extrato = typeof Extrato.Type

export class ClienteNaoEncontrado extends Schema.TaggedError<ClienteNaoEncontrado>()(
  "ClienteNaoEncontrado",
  { id: Schema.Int },
  { httpApiStatus: 404 }
) {}

/** The debit would take the balance below `-limite` (or a credit past the integer range). */
export class LimiteExcedido extends Schema.TaggedError<LimiteExcedido>()(
  "LimiteExcedido",
  { id: Schema.Int },
  { httpApiStatus: 422 }
) {}
