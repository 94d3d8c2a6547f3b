/**
 * Stores each sandbox's state in `<root>/<sandbox-id>/state.json`, like
 * upstream's persist crate (root `/run/kata`). Writes are atomic: a temporary
 * file in the same directory is written, fsynced and renamed over the old
 * one, then the directory is fsynced, so a crash leaves the old or the new
 * file, never a partial one. Loads are validated: a missing, corrupt or
 * foreign file is an error naming the file, never a crash.
 * @module
 */
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../common/errors.ts";
import { removeTree } from "./remove_tree.ts";
import {
  type SandboxState,
  type SandboxStateInput,
  sandboxStateSchema,
  STATE_VERSION,
} from "./state.ts";

/** Default root, as upstream. */
export const DEFAULT_PERSIST_ROOT = "/run/kata";
/** Environment variable that overrides the root (tests, rootless runs). */
export const PERSIST_ROOT_ENV = "KATA_PERSIST_ROOT";
/** Name of the state file inside a sandbox's directory. */
export const STATE_FILE = "state.json";

/** Sandbox ids become directory names: allow what containerd ids contain, nothing that escapes. */
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,255}$/;

/** Options of {@link StateStore}. */
export interface StateStoreOptions {
  /** Root directory (default: `KATA_PERSIST_ROOT`, else `/run/kata`). */
  root?: string;
}

function describeIssues(issues: readonly { path: PropertyKey[]; message: string }[]): string {
  return issues.slice(0, 5).map((i) =>
    `${i.path.length ? i.path.map(String).join(".") : "(top level)"}: ${i.message}`
  ).join("; ");
}

/** Reads and writes sandbox state files under one root directory. */
export class StateStore {
  /** The root directory. */
  readonly root: string;

  constructor(opts: StateStoreOptions = {}) {
    this.root = opts.root ?? Deno.env.get(PERSIST_ROOT_ENV) ?? DEFAULT_PERSIST_ROOT;
  }

  /** Directory of one sandbox. */
  dirOf(sandboxId: string): string {
    if (!ID_RE.test(sandboxId) || sandboxId === "." || sandboxId === "..") {
      throw new InvalidArgumentError(
        `Sandbox id ${JSON.stringify(sandboxId)} is not valid for a state directory`,
      );
    }
    return `${this.root}/${sandboxId}`;
  }

  /** Path of one sandbox's state file. */
  pathOf(sandboxId: string): string {
    return `${this.dirOf(sandboxId)}/${STATE_FILE}`;
  }

  /**
   * Validates and writes the state atomically; returns what was written
   * (with version, defaults and timestamps). `created_at` is kept from the
   * input, else from the existing file, else now.
   */
  async save(input: SandboxStateInput): Promise<SandboxState> {
    const dir = this.dirOf(input.sandbox_id);
    const now = new Date().toISOString();
    let createdAt = input.created_at;
    if (createdAt === undefined) {
      try {
        createdAt = (await this.load(input.sandbox_id)).created_at;
      } catch {
        createdAt = now;
      }
    }
    const parsed = sandboxStateSchema.safeParse({
      ...input,
      version: STATE_VERSION,
      created_at: createdAt,
      updated_at: now,
    });
    if (!parsed.success) {
      throw new InvalidArgumentError(
        `State of sandbox ${input.sandbox_id} is not valid: ${describeIssues(parsed.error.issues)}`,
      );
    }
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await writeAtomic(`${dir}/${STATE_FILE}`, JSON.stringify(parsed.data, null, 2) + "\n");
    return parsed.data;
  }

  /**
   * Loads and validates one sandbox's state.
   * @throws NotFoundError when there is no state file;
   *   FailedPreconditionError when it is corrupt or foreign
   */
  async load(sandboxId: string): Promise<SandboxState> {
    const file = this.pathOf(sandboxId);
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new NotFoundError(`State file ${file} of sandbox ${sandboxId} does not exist`);
      }
      throw new FailedPreconditionError(
        `State file ${file} cannot be read: ${(e as Error).message}`,
      );
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new FailedPreconditionError(
        `State file ${file} is corrupt (not JSON): ${(e as Error).message}`,
      );
    }
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      throw new FailedPreconditionError(`State file ${file} is corrupt: not a JSON object`);
    }
    const version = (raw as Record<string, unknown>).version;
    if (version !== STATE_VERSION) {
      throw new FailedPreconditionError(
        `State file ${file} is foreign: version ${
          JSON.stringify(version ?? null)
        }, this runtime reads version ${STATE_VERSION}`,
      );
    }
    const parsed = sandboxStateSchema.safeParse(raw);
    if (!parsed.success) {
      throw new FailedPreconditionError(
        `State file ${file} is foreign or damaged: ${describeIssues(parsed.error.issues)}`,
      );
    }
    if (parsed.data.sandbox_id !== sandboxId) {
      throw new FailedPreconditionError(
        `State file ${file} belongs to sandbox ${parsed.data.sandbox_id}, not ${sandboxId}`,
      );
    }
    return parsed.data;
  }

  /** Whether a state file exists for the sandbox. */
  async exists(sandboxId: string): Promise<boolean> {
    try {
      await Deno.stat(this.pathOf(sandboxId));
      return true;
    } catch {
      return false;
    }
  }

  /** Ids of the sandboxes that have a state file, sorted. */
  async list(): Promise<string[]> {
    const ids: string[] = [];
    try {
      for await (const e of Deno.readDir(this.root)) {
        if (e.isDirectory && ID_RE.test(e.name) && (await this.exists(e.name))) ids.push(e.name);
      }
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
    return ids.sort();
  }

  /**
   * Deletes the sandbox's directory and everything in it; a missing one is
   * fine. Mounts below it are unmounted first; while one stays, nothing is
   * removed (see remove_tree.ts).
   */
  remove(sandboxId: string): Promise<void> {
    return removeTree(this.dirOf(sandboxId));
  }
}

/**
 * Writes `text` to `path` atomically: temporary file in the same directory,
 * fsync, rename, fsync of the directory. The temporary file is removed on
 * failure.
 */
export async function writeAtomic(path: string, text: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = slash <= 0 ? (slash === 0 ? "/" : ".") : path.slice(0, slash);
  const tmp = `${dir}/.${path.slice(slash + 1)}.${crypto.randomUUID()}.tmp`;
  try {
    const f = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
    try {
      const data = new TextEncoder().encode(text);
      let off = 0;
      while (off < data.length) off += await f.write(data.subarray(off));
      await f.sync();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  // Make the rename itself durable.
  const d = await Deno.open(dir, { read: true });
  try {
    await d.sync();
  } finally {
    d.close();
  }
}
