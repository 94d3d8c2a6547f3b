/**
 * ttRPC metadata (repeated KeyValue) as seen by handlers and sent by clients.
 * Handlers get it twice: as connect's `requestHeader` (a Headers object, so
 * several values of one key are joined with ", " and keys are lower-cased),
 * and raw, in order and case, through `requestMetadata(ctx)`.
 * @module
 */
import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { KeyValue } from "./envelope.ts";

/** Context key under which the server stores the raw metadata of a request. */
export const metadataKey = createContextKey<readonly KeyValue[]>([], {
  description: "ttrpc request metadata",
});

/** Returns the raw metadata entries of the request a handler is serving. */
export function requestMetadata(ctx: HandlerContext): readonly KeyValue[] {
  // Our own context has it at hand; asking `values` would build a ContextValues per call.
  const direct = (ctx as { metadata?: readonly KeyValue[] }).metadata;
  return Array.isArray(direct) ? direct : ctx.values.get(metadataKey);
}

/** Returns every value of `key` (exact match) in the request's raw metadata. */
export function metadataValues(ctx: HandlerContext, key: string): string[] {
  const values: string[] = [];
  for (const kv of requestMetadata(ctx)) if (kv.key === key) values.push(kv.value);
  return values;
}

/** Builds a Headers view of metadata, skipping entries that are not valid HTTP header names or values. */
export function metadataToHeaders(metadata: readonly KeyValue[]): Headers {
  const headers = new Headers();
  for (const kv of metadata) {
    try {
      headers.append(kv.key, kv.value);
    } catch {
      // Not representable as an HTTP header; still available through requestMetadata().
    }
  }
  return headers;
}

/**
 * Flattens call headers into metadata entries. An array of pairs keeps
 * repeated keys as separate entries (true multi-valued metadata); a Headers
 * object or record gives one entry per key.
 */
export function headersToMetadata(init: HeadersInit | undefined): KeyValue[] {
  if (init === undefined) return [];
  if (Array.isArray(init)) return init.map(([key, value]) => ({ key, value }));
  if (init instanceof Headers) return [...init].map(([key, value]) => ({ key, value }));
  return Object.entries(init as Record<string, string>).map(([key, value]) => ({ key, value }));
}
