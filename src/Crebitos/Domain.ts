import * as Schema from "effect/Schema"

/** Largest value of a PostgreSQL `integer`, the type of every amount. */
const maxInt4 = 2_147_483_647

/**
 * A client id as it appears in the path. Anything else (not a number, out of
 * range) cannot name a client and is answered 404 by the API's validation.
 */
export const ClienteId = Schema.FiniteFromString.check(
  Schema.isInt(),
  Schema.isBetween({ minimum: 1, maximum: maxInt4 })
)
export type ClienteId = typeof ClienteId.Type

/** Cents; positive and small enough for the database column. */
export const Valor = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: maxInt4 }))

export const Tipo = Schema.Literals(["c", "d"]).annotate({ description: "c: credit, d: debit" })
export type Tipo = typeof Tipo.Type

const segmenter = new Intl.Segmenter()

/** Whether a text has 1 to `max` user-perceived characters (grapheme clusters). */
const hasOneToCharacters = (text: string, max: number): boolean => {
  // A string never has more graphemes than UTF-16 code units, so the common
  // case needs no segmentation at all.
  if (text.length <= max) return text.length > 0
  let count = 0
  for (const _ of segmenter.segment(text)) {
    if (++count > max) return false
  }
  return true
}

const isStorableText = Schema.makeFilter<string>(
  (text) => (text.isWellFormed() && !text.includes("\u0000")) || "must be valid Unicode without NUL characters"
)

const hasOneToTenCharacters = Schema.makeFilter<string>(
  (text) => hasOneToCharacters(text, 10) || "must have 1 to 10 characters",
  // Property tests generate from the schema: 1 to 10 code units always make
  // 1 to 10 characters, so generation never has to discard.
  { arbitraryConstraint: { minLength: 1, maxLength: 10 } }
)

/** 1 to 10 characters as a user sees them: "ááááááááá\u00e1" is 10. */
export const Descricao = Schema.String.check(isStorableText, hasOneToTenCharacters)

/** The body of `POST /clientes/:id/transacoes`. Extra keys are ignored. */
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
