/**
 * Minimal assertions for tests (`@std/assert` lives on JSR, which is
 * unreachable here). Deep equality follows structural rules (see {@link equal}).
 * @module
 */

const inspect = (v: unknown, opts?: { depth: number }) => Deno.inspect(v, opts);

/** Structural equality: same types, same own enumerable keys, same values. */
export function equal(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Date) return a.getTime() === (b as Date).getTime();
  if (ArrayBuffer.isView(a)) {
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const bv = b as ArrayBufferView;
    const y = new Uint8Array(bv.buffer, bv.byteOffset, bv.byteLength);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  }
  if (a instanceof Map) {
    const m = b as Map<unknown, unknown>;
    return a.size === m.size && [...a].every(([k, v]) => m.has(k) && equal(v, m.get(k)));
  }
  if (a instanceof Set) {
    const s = b as Set<unknown>;
    return a.size === s.size && [...a].every((v) => s.has(v));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) =>
    Object.hasOwn(b, k) &&
    equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])
  );
}

/** Error thrown by a failed assertion. */
export class AssertionError extends Error {
  override name = "AssertionError";
}

/** Asserts that `cond` is truthy. */
export function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new AssertionError(msg);
}

/** Asserts deep strict equality. */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  if (!equal(actual, expected)) {
    throw new AssertionError(
      `${msg ? msg + ": " : ""}values differ\n  actual:   ${
        inspect(actual, { depth: 6 })
      }\n  expected: ${inspect(expected, { depth: 6 })}`,
    );
  }
}

/** Asserts deep strict inequality. */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  if (equal(actual, expected)) {
    throw new AssertionError(`${msg ? msg + ": " : ""}values are equal: ${inspect(actual)}`);
  }
}

/** Asserts that `text` contains `part`. */
export function assertStringIncludes(text: string, part: string, msg?: string): void {
  if (!text.includes(part)) {
    throw new AssertionError(
      `${msg ? msg + ": " : ""}${JSON.stringify(text)} does not include ${JSON.stringify(part)}`,
    );
  }
}

/** Asserts that `text` matches `re`. */
export function assertMatch(text: string, re: RegExp, msg?: string): void {
  if (!re.test(text)) {
    throw new AssertionError(
      `${msg ? msg + ": " : ""}${JSON.stringify(text)} does not match ${re}`,
    );
  }
}

type ErrorClass<E extends Error> = abstract new (...args: never[]) => E;

function checkError<E extends Error>(
  e: unknown,
  cls?: ErrorClass<E>,
  includes?: string,
): E {
  if (!(e instanceof Error)) {
    throw new AssertionError(`thrown value is not an Error: ${inspect(e)}`);
  }
  if (cls && !(e instanceof cls)) {
    throw new AssertionError(`expected ${cls.name}, got ${e.name}: ${e.message}`);
  }
  if (includes !== undefined && !e.message.includes(includes)) {
    throw new AssertionError(
      `error message ${JSON.stringify(e.message)} does not include ${JSON.stringify(includes)}`,
    );
  }
  return e as E;
}

/** Asserts that `fn` throws (optionally an instance of `cls` whose message includes `includes`). */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  cls?: ErrorClass<E>,
  includes?: string,
): E {
  try {
    fn();
  } catch (e) {
    return checkError(e, cls, includes);
  }
  throw new AssertionError("expected function to throw");
}

/** Asserts that `fn` rejects (optionally with an instance of `cls` whose message includes `includes`). */
export async function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  cls?: ErrorClass<E>,
  includes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    return checkError(e, cls, includes);
  }
  throw new AssertionError("expected promise to reject");
}
