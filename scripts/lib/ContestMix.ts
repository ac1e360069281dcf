/**
 * The contest's mix as autocannon requests (22 debits : 11 credits : 1
 * statement, random clients and amounts), for the quick benchmarks.
 */

import type autocannon from "autocannon"

const randomInt = (max: number) => 1 + Math.floor(Math.random() * max)
const descricao = () => Math.random().toString(36).slice(2, 12).padEnd(10, "x")

/** One request of the mix, drawn at random (autocannon's `setupRequest`). */
export const nextRequest = (request: autocannon.Request): autocannon.Request => {
  const draw = Math.random() * 34
  const id = randomInt(5)
  if (draw < 1) return { ...request, method: "GET", path: `/clientes/${id}/extrato`, body: undefined }
  const tipo = draw < 23 ? "d" : "c"
  return {
    ...request,
    method: "POST",
    path: `/clientes/${id}/transacoes`,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ valor: randomInt(10_000), tipo, descricao: descricao() })
  }
}
