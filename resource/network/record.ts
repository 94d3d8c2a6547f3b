/**
 * The attach record of `shim-ctl net`: what attach created in a network
 * namespace, kept in `/run/kata/net/<hash of the netns path>.json` so that a
 * later detach (another process) removes exactly that.
 * @module
 */
import { FailedPreconditionError } from "../../common/errors.ts";
import * as z from "../../common/zod.ts";
import type { Plumbing } from "./plumbing.ts";
import { MODEL_NAMES } from "./classify.ts";

/** Default folder of the records. */
export const RECORD_DIR = "/run/kata/net";

const plumbingSchema = z.object({
  model: z.enum(MODEL_NAMES as [string, ...string[]]),
  link: z.string(),
  tap: z.string(),
  tapKind: z.enum(["tap", "macvtap"]),
  tapIndex: z.number().check(z.int()),
  queues: z.number().check(z.int(), z.minimum(1)),
  devicePath: z.optional(z.string()),
  ingress: z.array(z.string()),
  sysctls: z.optional(z.array(z.object({ key: z.string(), old: z.string() }))),
  localRoutes: z.optional(z.array(z.string())),
});

const recordSchema = z.object({
  version: z.literal(1),
  netns: z.string(),
  created: z.array(plumbingSchema),
});

/** The persisted record. */
interface AttachRecord {
  version: 1;
  netns: string;
  created: Plumbing[];
}

/** Path of the record for `netns` under `dir`. */
export async function recordPath(netns: string, dir = RECORD_DIR): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(netns));
  const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${dir}/${hex.slice(0, 32)}.json`;
}

/** Writes the record atomically (temporary file + rename). */
export async function writeRecord(path: string, rec: AttachRecord): Promise<void> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(rec, null, 2) + "\n", { mode: 0o600 });
  await Deno.rename(tmp, path);
}

/** Reads the record, or undefined when there is none; throws naming the file when invalid. */
export async function readRecord(path: string): Promise<AttachRecord | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  const parsed = recordSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new FailedPreconditionError(
      `Invalid network attach record ${path}: ${parsed.error.message}`,
    );
  }
  return parsed.data as AttachRecord;
}

/** Removes the record (absent is fine). */
export async function removeRecord(path: string): Promise<void> {
  await Deno.remove(path).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
}
