/**
 * Shape of a sandbox's persisted state (`<root>/<sandbox-id>/state.json`),
 * version 1. Parts owned by other layers (hypervisor, network endpoints,
 * resources) are opaque JSON objects here: each owner validates its own part
 * with its own schema when it reads it back. Unknown top-level keys are
 * refused so that a file written by something else is never mistaken for ours.
 * @module
 */
import { z } from "zod";

/** Format version this code writes and reads. */
export const STATE_VERSION = 1;

/** An opaque JSON object owned by another layer. */
export const opaqueRecord = z.record(z.string(), z.unknown());

/** Status of a container or exec process, as containerd's task API names them. */
export const processStatusSchema = z.enum(["created", "running", "paused", "stopped", "unknown"]);

/** One exec'd process of a container. */
export const execStateSchema = z.strictObject({
  id: z.string().min(1),
  pid: z.number().int().min(0).nullable().default(null),
  status: processStatusSchema.default("created"),
  exit_status: z.number().int().nullable().default(null),
  /** Owner-defined extra data (stdio paths, terminal...). */
  extra: opaqueRecord.default({}),
});

/** One container of the sandbox. */
export const containerStateSchema = z.strictObject({
  id: z.string().min(1),
  bundle: z.string(),
  pid: z.number().int().min(0).nullable().default(null),
  status: processStatusSchema.default("created"),
  exit_status: z.number().int().nullable().default(null),
  execs: z.array(execStateSchema).default([]),
  created_at: z.string().default(() => new Date().toISOString()),
  /** Owner-defined extra data (rootfs mounts, devices, cgroup path...). */
  extra: opaqueRecord.default({}),
});

/** The whole `state.json`. */
export const sandboxStateSchema = z.strictObject({
  version: z.literal(STATE_VERSION),
  sandbox_id: z.string().min(1),
  /** Runtime kind (`virt_container`, `linux_container`, `wasm_container`). */
  runtime: z.string().min(1),
  /** Opaque hypervisor state saved by the hypervisor driver (null before a VM exists). */
  hypervisor: opaqueRecord.nullable().default(null),
  containers: z.array(containerStateSchema).default([]),
  /** Opaque network endpoint states saved by resource/network. */
  network_endpoints: z.array(opaqueRecord).default([]),
  /** Other named parts (e.g. `cgroup`, `shared_fs`), each opaque to persist. */
  resources: z.record(z.string(), opaqueRecord).default({}),
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
