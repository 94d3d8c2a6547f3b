/**
 * Readers of a container's OCI spec (`<bundle>/config.json`) for what the
 * VirtContainer runtime needs on the host: the spec itself, its network
 * namespace and the DNS lines of its /etc/resolv.conf mount.
 * @module
 */
import { InvalidArgumentError } from "../../common/errors.ts";
import type { OciMount } from "../../resource/volume/volume.ts";

/** Reads `<bundle>/config.json`. */
export function readSpec(bundle: string): Record<string, unknown> {
  try {
    return JSON.parse(Deno.readTextFileSync(`${bundle}/config.json`));
  } catch (e) {
    throw new InvalidArgumentError(
      `Cannot read the OCI spec ${bundle}/config.json: ${(e as Error).message}`,
    );
  }
}

/** The network namespace path of a spec, if it names one. */
export function netnsOf(spec: Record<string, unknown>): string | undefined {
  const linux = (spec.linux ?? {}) as { namespaces?: { type?: string; path?: string }[] };
  const ns = (linux.namespaces ?? []).find((n) => n.type === "network");
  return ns?.path || undefined;
}

/** DNS lines from the file mounted at /etc/resolv.conf, as runtime-rs reads them. */
export function dnsOf(spec: Record<string, unknown>): string[] {
  const mounts = (spec.mounts ?? []) as OciMount[];
  const m = mounts.find((x) => x.destination === "/etc/resolv.conf");
  if (!m?.source) return [];
  try {
    return Deno.readTextFileSync(m.source).split("\n").map((l) => l.trim()).filter((l) =>
      l && !l.startsWith("#")
    );
  } catch {
    return [];
  }
}
