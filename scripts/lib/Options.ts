/** Command-line values the harness's commands share. */

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

export const pgProfile = (value: string) => {
  if (value !== "contest" && value !== "durable") throw new Error("--pg-profile is contest or durable")
  return value
}
