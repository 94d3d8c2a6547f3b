/**
 * A command-line parser with Go `flag` package semantics, because containerd
 * builds the shim's argv for Go shims: `-name value`, `-name=value`, one or two
 * dashes, boolean flags that never take the next argument, parsing stops at
 * the first non-flag argument or at `--`.
 * @module
 */
import { InvalidArgumentError } from "./errors.ts";

/** Declaration of one flag. */
export type FlagSpec =
  | { kind: "string"; usage: string; default?: string }
  | { kind: "bool"; usage: string }
  | { kind: "int"; usage: string; default?: number }
  | { kind: "list"; usage: string };

/** A set of flag declarations keyed by flag name (without dashes). */
export type FlagSet = Record<string, FlagSpec>;

type ValueOf<S extends FlagSpec> = S extends { kind: "bool" } ? boolean
  : S extends { kind: "int" } ? number
  : S extends { kind: "list" } ? string[]
  : string;

/** Parsed values: every declared flag is present (defaults filled in). */
export type FlagValues<F extends FlagSet> = { [K in keyof F]: ValueOf<F[K]> };

/** Result of {@link parseFlags}. */
interface ParsedFlags<F extends FlagSet> {
  values: FlagValues<F>;
  /** Names of flags given explicitly on the command line. */
  given: Set<string>;
  /** Positional arguments after the flags. */
  rest: string[];
}

/** Thrown for `-h`/`-help` when the set does not declare them. */
export class HelpRequested extends Error {}

const TRUE = new Set(["1", "t", "T", "true", "TRUE", "True"]);
const FALSE = new Set(["0", "f", "F", "false", "FALSE", "False"]);

/**
 * Parses `argv` against `spec` the way Go's `flag.FlagSet.Parse` does.
 * Errors use Go's wording so containerd's logs read as they would for a Go shim.
 */
export function parseFlags<F extends FlagSet>(
  argv: readonly string[],
  spec: F,
): ParsedFlags<F> {
  const values: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(spec)) {
    values[name] = s.kind === "bool"
      ? false
      : s.kind === "list"
      ? []
      : s.kind === "int"
      ? s.default ?? 0
      : s.default ?? "";
  }
  const given = new Set<string>();
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg.length < 2 || arg[0] !== "-") break;
    let body = arg.slice(1);
    if (body[0] === "-") {
      body = body.slice(1);
      if (body.length === 0) {
        i++; // "--" ends the flags and is consumed
        break;
      }
    }
    if (body.length === 0 || body[0] === "-" || body[0] === "=") {
      throw new InvalidArgumentError(`Bad flag syntax: ${arg}`);
    }
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    const inline = eq < 0 ? undefined : body.slice(eq + 1);
    const s = spec[name];
    if (!s) {
      if (name === "h" || name === "help") throw new HelpRequested(usage(spec));
      throw new InvalidArgumentError(`Flag provided but not defined: -${name}`);
    }
    given.add(name);
    if (s.kind === "bool") {
      if (inline === undefined || TRUE.has(inline)) values[name] = true;
      else if (FALSE.has(inline)) values[name] = false;
      else {
        throw new InvalidArgumentError(
          `Invalid boolean value ${JSON.stringify(inline)} for -${name}`,
        );
      }
      continue;
    }
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= argv.length) {
        throw new InvalidArgumentError(`Flag needs an argument: -${name}`);
      }
      value = argv[++i];
    }
    if (s.kind === "int") {
      if (!/^[+-]?\d+$/.test(value)) {
        throw new InvalidArgumentError(
          `Invalid value ${JSON.stringify(value)} for flag -${name}: parse error`,
        );
      }
      values[name] = Number(value);
    } else if (s.kind === "list") {
      (values[name] as string[]).push(value);
    } else {
      values[name] = value;
    }
  }
  return {
    values: values as FlagValues<F>,
    given,
    rest: argv.slice(i),
  };
}

/** Renders a usage text listing every flag, like Go's `PrintDefaults`. */
export function usage(spec: FlagSet): string {
  const lines: string[] = [];
  for (const [name, s] of Object.entries(spec).sort(([a], [b]) => a.localeCompare(b))) {
    const arg = s.kind === "bool" ? "" : s.kind === "int" ? " int" : " string";
    lines.push(`  -${name}${arg}\n    \t${s.usage}`);
  }
  return lines.join("\n");
}
