/**
 * JSON rendering of a configuration. TOML integers beyond 2^53 are kept as
 * bigint when loaded; they are written as exact JSON numbers here.
 * @module
 */

const MARK = "\u0000bigint:";

/** `JSON.stringify` that writes bigint values as exact JSON integers. */
export function configToJson(value: unknown, indent = 2): string {
  const text = JSON.stringify(
    value,
    (_k, v) => (typeof v === "bigint" ? `${MARK}${v.toString()}` : v),
    indent,
  );
  return text.replace(/"\\u0000bigint:(-?\d+)"/g, "$1");
}
