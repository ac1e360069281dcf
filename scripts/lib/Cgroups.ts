/**
 * cgroup v1 caps for the processes of one service, as Docker applies
 * `deploy.resources.limits`: CPU quota per 100 ms period and a memory limit.
 * Also where each service's CPU time, throttling and memory are read.
 */

import { existsSync } from "node:fs"
import { mkdir, readdir, readFile, rmdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import type { Limit } from "./Compose.ts"

const root = "/sys/fs/cgroup"
const controllers = ["cpu", "cpuacct", "memory"] as const
const period = 100_000

export interface Cgroup {
  readonly name: string
  readonly limit: Limit
}

const dir = (cgroup: Cgroup, controller: (typeof controllers)[number]) => join(root, controller, cgroup.name)

/** Whether this machine lets us create cgroups (root on cgroup v1). */
export const available = Effect.promise(async () => {
  const probe = `rinha-probe-${process.pid}`
  try {
    for (const controller of controllers) await mkdir(join(root, controller, probe))
    return true
  } catch {
    return false
  } finally {
    for (const controller of controllers) await rmdir(join(root, controller, probe)).catch(() => undefined)
  }
})

/** The processes inside a cgroup, so it can be removed. */
const members = (path: string) =>
  readFile(join(path, "cgroup.procs"), "utf8")
    .then((text) => text.split("\n").filter((line) => line !== ""))
    .catch(() => [])

/** Creates the cgroup with its caps; removes it when the scope closes (after its processes ended). */
export const make = (name: string, limit: Limit) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      // One stack per process at a time; two stacks (say, a test beside a contest run) must not share cgroups.
      const cgroup = { name: `rinha-${process.pid}-${name}`, limit } satisfies Cgroup
      for (const controller of controllers) await mkdir(dir(cgroup, controller), { recursive: true })
      await writeFile(join(dir(cgroup, "cpu"), "cpu.cfs_period_us"), String(period))
      await writeFile(join(dir(cgroup, "cpu"), "cpu.cfs_quota_us"), String(Math.round(limit.cpus * period)))
      await writeFile(join(dir(cgroup, "memory"), "memory.limit_in_bytes"), String(limit.memoryBytes))
      return cgroup
    }),
    (cgroup) =>
      Effect.promise(async () => {
        for (const controller of controllers) {
          const path = dir(cgroup, controller)
          // Leftovers (a killed process's orphans) go back to the root group first.
          for (const pid of await members(path))
            await writeFile(join(root, controller, "cgroup.procs"), pid).catch(() => undefined)
          if (existsSync(path)) await rmdir(path).catch(() => undefined)
        }
      })
  )

/** The cgroup.procs files a process writes its PID to, to enter the cgroup before it execs. */
export const procsFiles = (cgroup: Cgroup) =>
  controllers.map((controller) => join(dir(cgroup, controller), "cgroup.procs"))

/** Moves a process and every descendant into the cgroup. */
export const adopt = (cgroup: Cgroup, pid: number) =>
  Effect.promise(async () => {
    for (const member of [pid, ...(await descendants(pid))]) {
      for (const file of procsFiles(cgroup)) await writeFile(file, String(member)).catch(() => undefined)
    }
  })

/** Every process below `pid`, from /proc. */
export const descendants = async (pid: number): Promise<ReadonlyArray<number>> => {
  const parents = new Map<number, Array<number>>()
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "")
    // The command name may hold spaces or parentheses: fields start after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const parent = Number(fields[1])
    parents.set(parent, [...(parents.get(parent) ?? []), Number(entry)])
  }
  const result: Array<number> = []
  const visit = (id: number) => {
    for (const child of parents.get(id) ?? []) {
      result.push(child)
      visit(child)
    }
  }
  visit(pid)
  return result
}

export interface Usage {
  /** CPU time used since the cgroup was made, in seconds. */
  readonly cpuSeconds: number
  /** 100 ms periods in which the quota ran out. */
  readonly throttledPeriods: number
  /** Resident memory now: anonymous plus shared (PostgreSQL's buffers), not page cache. */
  readonly rssBytes: number
  /** The kernel's high-water mark of everything charged, page cache included. */
  readonly peakChargedBytes: number
}

const statField = (text: string, field: string) => Number(new RegExp(`^${field} (\\d+)$`, "m").exec(text)?.[1] ?? 0)

export const usage = (cgroup: Cgroup) =>
  Effect.promise(async (): Promise<Usage> => {
    const [cpuacct, cpuStat, memoryStat, peak] = await Promise.all([
      readFile(join(dir(cgroup, "cpuacct"), "cpuacct.usage"), "utf8"),
      readFile(join(dir(cgroup, "cpu"), "cpu.stat"), "utf8"),
      readFile(join(dir(cgroup, "memory"), "memory.stat"), "utf8"),
      readFile(join(dir(cgroup, "memory"), "memory.max_usage_in_bytes"), "utf8")
    ])
    return {
      cpuSeconds: Number(cpuacct) / 1e9,
      throttledPeriods: statField(cpuStat, "nr_throttled"),
      rssBytes: statField(memoryStat, "total_rss") + statField(memoryStat, "total_shmem"),
      peakChargedBytes: Number(peak)
    }
  })

const clockTicks = 100

/**
 * The same figures from /proc for a process tree, when no cgroup can be made.
 * CPU time of processes that already exited is lost, so it reads low.
 */
export const treeUsage = (pid: number) =>
  Effect.promise(async (): Promise<Usage> => {
    let cpuSeconds = 0
    let rssBytes = 0
    for (const member of [pid, ...(await descendants(pid))]) {
      const stat = await readFile(`/proc/${member}/stat`, "utf8").catch(() => "")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      cpuSeconds += (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / clockTicks
      const status = await readFile(`/proc/${member}/status`, "utf8").catch(() => "")
      rssBytes += Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0) * 1024
    }
    return { cpuSeconds, throttledPeriods: 0, rssBytes, peakChargedBytes: rssBytes }
  })
