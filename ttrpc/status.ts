/**
 * Mapping between thrown errors and google.rpc.Status, the error model on the
 * ttRPC wire. The codes are gRPC's, which is what connect's `Code` enum holds.
 * @module
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { create, toBinary } from "@bufbuild/protobuf";
import type { AnyEnvelope, StatusEnvelope } from "./envelope.ts";

const codeByName = new Map<string, Code>();
for (const [name, value] of Object.entries(Code)) {
  if (typeof value === "number") codeByName.set(name.toLowerCase(), value);
}
codeByName.set("cancelled", Code.Canceled);

/**
 * Resolves a status code name as carried by domain errors (`"NotFound"`,
 * `"NOT_FOUND"`, `"not_found"`) to its numeric code; undefined if unknown.
 */
export function codeFromName(name: string): Code | undefined {
  return codeByName.get(name.replaceAll("_", "").toLowerCase());
}

/** Converts anything thrown by a handler into the status sent back to the client. */
export function statusFromError(err: unknown): StatusEnvelope {
  if (err instanceof ConnectError) {
    return { code: err.code, message: err.rawMessage, details: detailsOf(err) };
  }
  if (err instanceof DOMException) {
    if (err.name === "TimeoutError") {
      return { code: Code.DeadlineExceeded, message: err.message, details: [] };
    }
    if (err.name === "AbortError") {
      return { code: Code.Canceled, message: err.message, details: [] };
    }
  }
  if (err instanceof Error) {
    const name = (err as { code?: unknown }).code;
    const code = typeof name === "string" ? codeFromName(name) : undefined;
    return { code: code ?? Code.Unknown, message: err.message, details: [] };
  }
  return { code: Code.Unknown, message: String(err), details: [] };
}

function detailsOf(err: ConnectError): AnyEnvelope[] {
  return err.details.map((d) => {
    if ("desc" in d) {
      return {
        typeUrl: `type.googleapis.com/${d.desc.typeName}`,
        value: toBinary(d.desc, create(d.desc, d.value)),
      };
    }
    return { typeUrl: `type.googleapis.com/${d.type}`, value: d.value };
  });
}

/** Converts a non-OK status received from a peer into the error a client call rejects with. */
export function errorFromStatus(status: StatusEnvelope): ConnectError {
  const code = status.code in Code ? status.code as Code : Code.Unknown;
  const err = new ConnectError(status.message, code);
  err.details = status.details.map((d) => ({
    type: d.typeUrl.slice(d.typeUrl.lastIndexOf("/") + 1),
    value: d.value,
  }));
  err.isWireError = true;
  return err;
}
