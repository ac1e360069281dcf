import * as Arbitrary from "effect/Arbitrary"
import type * as Schema from "effect/Schema"

/** Values of a schema. */
export const of = <S extends Schema.Top>(schema: S) => Arbitrary.schema(schema)

/** Values as the JSON text a client would send. */
export const json = (values: Arbitrary.Arbitrary<unknown>) => Arbitrary.map(values, (value) => JSON.stringify(value))

/** `valid` with one field replaced by values from `values`: a payload breaking exactly one rule. */
export const withField = <A extends object>(
  valid: Arbitrary.Arbitrary<A>,
  field: keyof A,
  values: Arbitrary.Arbitrary<unknown>
) => Arbitrary.flatMap(valid, (payload) => Arbitrary.map(values, (value) => ({ ...payload, [field]: value })))

/** Text that is not JSON at all: the malformed bodies. */
export const notJson = (values: Arbitrary.Arbitrary<string>) =>
  Arbitrary.filter(values, (text) => {
    try {
      JSON.parse(text)
      return false
    } catch {
      return true
    }
  })
