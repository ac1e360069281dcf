/** Command-line values the harness's commands share. */

import { existsSync } from "node:fs"
import { resolve } from "node:path"

/** `--set NAME=value`, repeated: API settings over the compose file's. */
export const settings = (values: ReadonlyArray<string>): Readonly<Record<string, string>> =>
  Object.fromEntries(
    values.map((setting) => {
      const at = setting.indexOf("=")
      if (at <= 0) throw new Error(`--set takes NAME=value, not ${setting}`)
      return [setting.slice(0, at), setting.slice(at + 1)]
    })
  )

/** Settings as they were given: `NAME=value` each. */
export const settingsText = (settings: Readonly<Record<string, string>>): ReadonlyArray<string> =>
  Object.entries(settings).map(([name, value]) => `${name}=${value}`)

/** A TCP port, 0 for any free one. */
export const port = (flag: string, value: string): number => {
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65_535) throw new Error(`${flag} takes a port, not ${value}`)
  return parsed
}

/** `--scrape-interval`: whole seconds between scrapes, 1 to 60. */
export const scrapeSeconds = (value: string): number => {
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 60) {
    throw new Error(`--scrape-interval takes whole seconds from 1 to 60, not ${value}`)
  }
  return parsed
}

/**
 * `--api-entry api01=<file>`, repeated: what those API instances run instead
 * of the stack's bundle, e.g. the bundle of another commit. The name must be
 * an API of the compose file (the stack checks it) and the file must exist.
 */
export const apiEntries = (values: ReadonlyArray<string>): Readonly<Record<string, string>> =>
  Object.fromEntries(
    values.map((entry) => {
      const at = entry.indexOf("=")
      if (at <= 0) throw new Error(`--api-entry takes api01=<file>, not ${entry}`)
      const file = resolve(entry.slice(at + 1))
      if (!existsSync(file)) throw new Error(`--api-entry ${entry}: no such file`)
      return [entry.slice(0, at), file]
    })
  )

/** Entries as the report tells them: `api01 ran <file>` each. */
export const apiEntriesText = (entries: Readonly<Record<string, string>>): string =>
  Object.entries(entries)
    .map(([api, file]) => `${api} ran ${file}`)
    .join("; ")

export const pgProfile = (value: string) => {
  if (value !== "contest" && value !== "durable") throw new Error("--pg-profile is contest or durable")
  return value
}
