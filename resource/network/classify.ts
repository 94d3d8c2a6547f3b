/**
 * Endpoint classification of a scanned link (runtime-rs `create_endpoint`):
 * a PCI bus address makes a physical endpoint; otherwise the link type
 * decides, and taps, bridges and unknown kinds are refused naming the link.
 * @module
 */
import { InvalidArgumentError } from "../../common/errors.ts";
import { isPciBusInfo } from "../../ffi/ethtool.ts";
import type { ScannedLink } from "./scan.ts";

/** Endpoint kinds the network resource builds. */
export type EndpointKind = "veth" | "macvlan" | "ipvlan" | "vlan" | "physical";

/** Interworking models (`[runtime] internetworking_model`). */
export type ModelName = "tcfilter" | "macvtap" | "none" | "l3forwarding";

/** Model names accepted in configuration and on the command line. */
export const MODEL_NAMES: readonly ModelName[] = ["tcfilter", "macvtap", "none", "l3forwarding"];

/** Parses a model name; throws naming the value when unknown. */
export function parseModel(s: string): ModelName {
  if ((MODEL_NAMES as readonly string[]).includes(s)) return s as ModelName;
  throw new InvalidArgumentError(
    `Unknown internetworking model ${JSON.stringify(s)}: expected one of ${MODEL_NAMES.join(", ")}`,
  );
}

/** The endpoint kind of a scanned link; throws naming the link and its type when unsupported. */
export function endpointKind(s: ScannedLink): EndpointKind {
  if (isPciBusInfo(s.busInfo)) return "physical";
  switch (s.type) {
    case "veth":
    case "device":
      return "veth";
    case "macvlan":
    case "ipvlan":
    case "vlan":
      return s.type;
    default:
      throw new InvalidArgumentError(
        `Unsupported link "${s.link.name}" of type "${s.type}" (kind ${
          JSON.stringify(s.link.kind)
        }) in the pod network namespace`,
      );
  }
}

/** The model an endpoint uses: vlan and ipvlan always use tcfilter. */
export function modelFor(kind: EndpointKind, configured: ModelName): ModelName {
  return kind === "vlan" || kind === "ipvlan" ? "tcfilter" : configured;
}
