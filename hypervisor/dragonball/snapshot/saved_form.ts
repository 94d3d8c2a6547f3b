/**
 * A saved VM on disk (a template): a directory with the guest's RAM as one
 * file (`memory-<id>`, regions one after the other) and `state.json`, the
 * versioned saved form: fingerprint, the memory file's name and size, and
 * the machine state. A new template gets a new memory file and then a new
 * `state.json` naming it (both by rename): a reader always finds the memory
 * of the state it read, and VMs restored from an older template keep
 * mapping their file. Reading checks the version, the form and that the
 * memory file is whole, and says which of these failed and where.
 * @module
 */
import * as z from "../../../common/zod.ts";
import { FailedPreconditionError, NotFoundError } from "../../../common/errors.ts";
import { parseState } from "../devices/state.ts";
import { type Fingerprint, fingerprintSchema } from "./fingerprint.ts";

/** The saved-form version this runtime writes and reads. */
const SNAPSHOT_VERSION = 1;
/** The state file inside a template directory. */
export const STATE_FILE = "state.json";
/** Memory file names: `memory-` and a unique suffix. */
const MEMORY_NAME = /^memory-[0-9a-z-]{1,64}$/;

const snapshotSchema = z.strictObject({
  version: z.literal(SNAPSHOT_VERSION),
  savedAt: z.string(),
  fingerprint: fingerprintSchema,
  memoryBytes: z.number().check(z.int(), z.minimum(4096)),
  /** The memory file's name in the template directory. */
  memoryFile: z.string().check(z.regex(MEMORY_NAME)),
  /** snapshot/machine.ts checks it against the VM it is restored into. */
  machine: z.unknown(),
});

/** A saved VM's state file. */
type Snapshot = z.infer<typeof snapshotSchema>;

/** A fresh memory file name (see the module doc). */
export function newMemoryFileName(): string {
  return `memory-${Date.now().toString(36)}-${crypto.randomUUID().slice(0, 8)}`;
}

/** The state file's path and, given a snapshot, its memory file's. */
export function snapshotPaths(dir: string, s?: { memoryFile: string }): {
  memory: string;
  state: string;
} {
  return { memory: s ? `${dir}/${s.memoryFile}` : "", state: `${dir}/${STATE_FILE}` };
}

/** Writes `state.json` atomically (a reader sees the old file or the whole new one). */
export async function writeSnapshot(
  dir: string,
  s: { fingerprint: Fingerprint; memoryBytes: number; memoryFile: string; machine: unknown },
): Promise<void> {
  const { state } = snapshotPaths(dir);
  const body: Snapshot = {
    version: SNAPSHOT_VERSION,
    savedAt: new Date().toISOString(),
    ...s,
  };
  const tmp = `${state}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(body), { mode: 0o600 });
  await Deno.rename(tmp, state);
}

/**
 * Reads and checks the template in `dir`: NotFound when there is none (or
 * its memory file is gone), FailedPrecondition for another version, text
 * that is not JSON or a memory file of the wrong size, InvalidArgument for
 * a malformed saved form.
 */
export function readSnapshot(dir: string): Snapshot & { memoryPath: string } {
  const { state } = snapshotPaths(dir);
  let text: string;
  try {
    text = Deno.readTextFileSync(state);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new NotFoundError(`No template at ${dir} (make one with shim-ctl factory init)`);
    }
    throw e;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new FailedPreconditionError(
      `Template state ${state} is not JSON: ${(e as Error).message}`,
    );
  }
  const version = (raw as { version?: unknown } | null)?.version;
  if (version !== SNAPSHOT_VERSION) {
    throw new FailedPreconditionError(
      `Template at ${dir} has saved-form version ${JSON.stringify(version)}; ` +
        `this runtime reads version ${SNAPSHOT_VERSION} (rebuild it with shim-ctl factory init)`,
    );
  }
  const s = parseState(snapshotSchema, raw, `the template at ${dir}`);
  const memory = snapshotPaths(dir, s).memory;
  let size: number;
  try {
    size = Deno.statSync(memory).size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new NotFoundError(`Template at ${dir} has no memory file ${memory}`);
    }
    throw e;
  }
  if (size !== s.memoryBytes) {
    throw new FailedPreconditionError(
      `Template memory file ${memory} is ${size} bytes, want ${s.memoryBytes} (truncated or replaced)`,
    );
  }
  return { ...s, memoryPath: memory };
}
