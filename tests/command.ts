/**
 * Running a command to completion in tests, and running this tree's shim
 * (`main.ts` under Deno, with the repository's import map) the way a test
 * invokes the built binary.
 * @module
 */

/** How a command ended and what it printed. */
export interface CommandOutput {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout as raw bytes (for binary answers such as `delete`'s protobuf). */
  stdoutBytes: Uint8Array;
}

/** Where and with what a command runs. */
export interface CommandOptions {
  /** Fed to stdin, which is then closed; no stdin (`/dev/null`) when absent. */
  stdin?: string | Uint8Array;
  cwd?: string;
  /** Added to the inherited environment. */
  env?: Record<string, string>;
}

/** Runs `cmd` with `args` to completion and captures its output. */
export async function runCommand(
  cmd: string,
  args: string[],
  opts: CommandOptions = {},
): Promise<CommandOutput> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    env: opts.env,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(
      typeof opts.stdin === "string" ? new TextEncoder().encode(opts.stdin) : opts.stdin,
    );
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    stdoutBytes: out.stdout,
  };
}

/**
 * Runs `cmd` with `args` to completion and returns its stdout; when it fails,
 * throws an error naming the command, its exit code and what it printed.
 */
export async function runChecked(
  cmd: string,
  args: string[],
  opts: CommandOptions = {},
): Promise<string> {
  const { code, stdout, stderr } = await runCommand(cmd, args, opts);
  if (code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${code}): ${stderr}${stdout}`);
  }
  return stdout;
}

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

/** Runs this tree's shim (`deno run main.ts ARGS...`) to completion. */
export function runShim(args: string[], opts: CommandOptions = {}): Promise<CommandOutput> {
  return runCommand(
    Deno.execPath(),
    ["run", "-A", "--quiet", "--config", CONFIG, MAIN, ...args],
    opts,
  );
}

/**
 * Runs a bash script with `-e`, `-u` and `pipefail` (a failing line, an unset
 * variable or a failing pipe stage stops it) and returns its stdout; when it
 * fails, throws an error naming the script's first line, its exit code and
 * the end of what it printed.
 */
export async function runScript(script: string, opts: CommandOptions = {}): Promise<string> {
  const { code, stdout, stderr } = await runCommand(
    "bash",
    ["-euo", "pipefail", "-c", script],
    opts,
  );
  if (code !== 0) {
    const first = script.trim().split("\n")[0].slice(0, 120);
    throw new Error(`Script failed (${code}): ${first}: ${(stderr + stdout).slice(-2000)}`);
  }
  return stdout;
}
