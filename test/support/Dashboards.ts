import { readFileSync } from "node:fs"
import { resolve } from "node:path"
import { parser } from "@prometheus-io/lezer-promql"
import * as Schema from "effect/Schema"
import type * as Compose from "../../scripts/lib/Compose.ts"

/** Where the compose files mount the dashboards Grafana provisions. */
const dashboardsFolder = "/var/lib/grafana/dashboards/"

/** The dashboard files a compose file mounts into Grafana, as host paths. */
export const mountedDashboards = (compose: Compose.Compose, grafana: Compose.ProfiledService) =>
  (grafana.volumes ?? [])
    .map((volume) => volume.split(":"))
    .filter(([, target]) => target?.startsWith(dashboardsFolder) && target.endsWith(".json"))
    .map(([source = ""]) => resolve(compose.directory, source))

const Target = Schema.Struct({ refId: Schema.String, expr: Schema.String })
const Panel = Schema.Struct({ id: Schema.Number, title: Schema.String, targets: Schema.Array(Target) })
const Dashboard = Schema.Struct({ uid: Schema.String, title: Schema.String, panels: Schema.Array(Panel) })
export type Dashboard = typeof Dashboard.Type

export const readDashboard = (path: string): Dashboard =>
  Schema.decodeUnknownSync(Dashboard)(JSON.parse(readFileSync(path, "utf8")))

// Grafana's interval variables, replaced by a literal duration so the query parses as PromQL.
const grafanaIntervals = /\$__(rate_interval|interval|range)\b/g

/**
 * The metric names a PromQL query selects, read with Prometheus's own
 * grammar (lezer-promql); a query that does not parse is an error.
 */
export const metricNames = (expr: string): ReadonlyArray<string> => {
  const query = expr.replace(grafanaIntervals, "1m")
  const names: Array<string> = []
  const errors: Array<number> = []
  parser.parse(query).iterate({
    enter: (node) => {
      if (node.type.isError) errors.push(node.from)
      if (node.name === "VectorSelector") {
        const identifier = node.node.getChild("Identifier")
        if (identifier !== null) names.push(query.slice(identifier.from, identifier.to))
      }
    }
  })
  if (errors.length > 0) throw new Error(`not PromQL at ${errors.join(", ")}: ${expr}`)
  return names
}
