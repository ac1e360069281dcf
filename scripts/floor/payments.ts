/**
 * The floor of the Payments contest on this machine (`--floor`): what an API
 * instance that does nothing costs and answers in the harness. Plain
 * `node:http`, no dependency: POST /payments is parsed and answered 202 at
 * once and never dispatched, so the processors hold nothing and the summary
 * (always zero) agrees with them. Whatever latency the contest measures
 * against it is k6, nginx, the kernel and Node's HTTP on these two cores —
 * the best any Node server can do here, not this project
 * (docs/payments.md, "How low the tail can go here").
 */

import { createServer } from "node:http"

const zero = JSON.stringify({
  default: { totalRequests: 0, totalAmount: 0 },
  fallback: { totalRequests: 0, totalAmount: 0 }
})

const server = createServer((request, response) => {
  const chunks: Array<Buffer> = []
  request.on("data", (chunk: Buffer) => chunks.push(chunk))
  request.on("end", () => {
    const path = request.url?.split("?", 1)[0]
    if (request.method === "POST" && path === "/payments") {
      try {
        JSON.parse(Buffer.concat(chunks).toString("utf8"))
        response.writeHead(202).end()
      } catch {
        response.writeHead(422).end()
      }
    } else if (request.method === "GET" && path === "/payments-summary") {
      response.writeHead(200, { "content-type": "application/json" }).end(zero)
    } else if (request.method === "POST" && path === "/purge-payments") {
      response.writeHead(200, { "content-type": "application/json" }).end('{"message":"purged"}')
    } else if (request.method === "GET" && path === "/healthz") {
      response.writeHead(200).end()
    } else {
      response.writeHead(404).end()
    }
  })
})

// The APIs' keep-alive: nginx reuses its upstream connections for 30 s.
server.keepAliveTimeout = 65_000
server.listen(Number(process.env.PORT ?? 8080), () => console.log(`Listening on ${process.env.PORT ?? 8080}`))
// Nothing to finish: a stub of the contest, not a service.
process.on("SIGTERM", () => process.exit(0))
