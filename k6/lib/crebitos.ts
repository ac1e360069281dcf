/**
 * Facts of the Crébitos contest shared by the k6 script and the tests:
 * plain data, no k6 or Node APIs.
 */

/** Each client's limit, in cents (shared/spec/crebitos.md, "Clients"). */
export const limites: Readonly<Record<number, number>> = { 1: 100000, 2: 80000, 3: 1000000, 4: 10000000, 5: 500000 }

/** The five invalid payloads of the contest's validation step; each must answer 422 (or 400). */
export const invalidPayloads: ReadonlyArray<Readonly<Record<string, unknown>>> = [
  { valor: 1.2, tipo: "d", descricao: "devolve" },
  { valor: 1, tipo: "x", descricao: "devolve" },
  { valor: 1, tipo: "c", descricao: "123456789 123456789 12345" },
  { valor: 1, tipo: "c", descricao: "" },
  { valor: 1, tipo: "c", descricao: null }
]
