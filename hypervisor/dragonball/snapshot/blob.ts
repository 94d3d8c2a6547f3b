/**
 * Kernel structs in the saved form: bytes as base64 strings, checked for the
 * size their ioctl expects when read back, and 64-bit values as hex strings
 * (JSON numbers stop at 2^53).
 * @module
 */
import * as z from "../../../common/zod.ts";

/** Bytes → base64. */
export function toBase64(b: Uint8Array): string {
  return (b as Uint8Array & { toBase64(): string }).toBase64();
}

/** base64 → bytes (malformed text throws a SyntaxError). */
export function fromBase64(s: string): Uint8Array<ArrayBuffer> {
  return (Uint8Array as unknown as { fromBase64(s: string): Uint8Array<ArrayBuffer> })
    .fromBase64(s);
}

/** A schema for a base64 blob that must decode to exactly `size` bytes. */
export function blob(size: number) {
  return z.string().check(
    z.refine((s) => {
      try {
        return fromBase64(s).length === size;
      } catch {
        return false;
      }
    }, `must be ${size} bytes in base64`),
  );
}

/** A schema for a 64-bit value as a hex string. */
export const hex64 = () => z.string().check(z.regex(/^[0-9a-f]{1,16}$/));
