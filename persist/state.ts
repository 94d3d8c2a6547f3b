/**
 * Shape of a sandbox's persisted state (`<root>/<sandbox-id>/state.json`),
 * version 1. Parts owned by other layers (hypervisor, network endpoints,
 * resources) are opaque JSON objects here: each owner validates its own part
 * with its own schema when it reads it back. Unknown top-level keys are
 * refused so that a file written by something else is never mistaken for ours.
 * @module
 */
import * as z from "../common/zod.ts";

/** Format version this code writes and reads. */
export const STATE_VERSION = 1;

/** An opaque JSON object owned by another layer. */
export const opaqueRecord = z.record(z.string(), z.unknown());

/** Status of a container or exec process, as containerd's task API names them. */
export const processStatusSchema = z.enum(["created", "running", "paused", "stopped", "unknown"]);

/** One exec'd process of a container. */
export const execStateSchema = z.strictObject({
  id: z.string().check(z.minLength(1)),
  pid: z._default(z.nullable(z.number().check(z.int(), z.minimum(0))), null),
  status: z._default(processStatusSchema, "created"),
  exit_status: z._default(z.nullable(z.number().check(z.int())), null),
  /** Owner-defined extra data (stdio paths, terminal...). */
  extra: z._default(opaqueRecord, {}),
});

/** One container of the sandbox. */
export const containerStateSchema = z.strictObject({
  id: z.string().check(z.minLength(1)),
  bundle: z.string(),
  pid: z._default(z.nullable(z.number().check(z.int(), z.minimum(0))), null),
  status: z._default(processStatusSchema, "created"),
  exit_status: z._default(z.nullable(z.number().check(z.int())), null),
  execs: z._default(z.array(execStateSchema), []),
  created_at: z._default(z.string(), () => new Date().toISOString()),
  /** Owner-defined extra data (rootfs mounts, devices, cgroup path...). */
  extra: z._default(opaqueRecord, {}),
});

/** The whole `state.json`. */
export const sandboxStateSchema = z.strictObject({
  version: z.literal(STATE_VERSION),
  sandbox_id: z.string().check(z.minLength(1)),
  /** Runtime kind (`virt_container`, `linux_container`, `wasm_container`). */
  runtime: z.string().check(z.minLength(1)),
  /** Opaque hypervisor state saved by the hypervisor driver (null before a VM exists). */
  hypervisor: z._default(z.nullable(opaqueRecord), null),
  containers: z._default(z.array(containerStateSchema), []),
  /** Opaque network endpoint states saved by resource/network. */
  network_endpoints: z._default(z.array(opaqueRecord), []),
  /** Other named parts (e.g. `cgroup`, `shared_fs`), each opaque to persist. */
  resources: z._default(z.record(z.string(), opaqueRecord), {}),
  created_at: z.string(),
  updated_at: z.string(),
});

/** A loaded, validated state. */
export type SandboxState = z.infer<typeof sandboxStateSchema>;
/** A container entry. */
export type ContainerState = z.infer<typeof containerStateSchema>;
/** An exec entry. */
export type ExecState = z.infer<typeof execStateSchema>;
/** What a caller passes to save: defaults and timestamps are filled in. */
export type SandboxStateInput =
  & Omit<z.input<typeof sandboxStateSchema>, "version" | "created_at" | "updated_at">
  & { created_at?: string };
