/**
 * The one save/restore interface of the built-in VMM's devices, for VM
 * snapshots (templates): a device hands out its state as a plain JSON value
 * and takes a saved one back, checked against its schema first, so a
 * malformed or foreign saved form is refused by name before any field is
 * used. Legacy devices (serial, i8042, ACPI) implement {@link Stateful}
 * directly; virtio devices implement it through `VirtioDevice`, and the
 * virtio-mmio transport saves their queues around it.
 * @module
 */
import * as z from "../../../common/zod.ts";
import { InvalidArgumentError } from "../../../common/errors.ts";

/** A device's saved state: a JSON object. */
export type DeviceState = { [key: string]: unknown };

/** A device whose state a snapshot can carry. */
export interface Stateful {
  /** The device's state now (host resources such as fds or sockets stay out). */
  saveState(): DeviceState;
  /** Takes back a state {@link saveState} returned (checked: throws on a malformed one). */
  restoreState(state: unknown): void;
}

/** Parses a saved state with `schema`; the error names `what` and the first problem. */
export function parseState<T extends z.ZodMiniType>(
  schema: T,
  value: unknown,
  what: string,
): z.infer<T> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    const at = issue?.path.length ? ` at ${issue.path.join(".")}` : "";
    throw new InvalidArgumentError(
      `Saved state of ${what} is malformed${at}: ${issue?.message ?? "invalid"}`,
    );
  }
  return r.data as z.infer<T>;
}

/** A byte value (0..255). */
export const byte = () => z.number().check(z.int(), z.minimum(0), z.maximum(255));
/** A 32-bit unsigned value. */
export const u32 = () => z.number().check(z.int(), z.minimum(0), z.maximum(0xffff_ffff));
/** A non-negative safe integer (guest addresses). */
export const uint = () => z.number().check(z.int(), z.minimum(0));

/** The state of a device that keeps none (ACPI sleep control): `{}`, checked. */
export const EMPTY_STATE = z.strictObject({});
