/**
 * Builds the endpoint for a scanned link from its classification.
 * @module
 */
import { endpointKind, modelFor, type ModelName } from "./classify.ts";
import type { Endpoint } from "./endpoint.ts";
import { PhysicalEndpoint } from "./physical_endpoint.ts";
import { PodEndpoint } from "./pod_endpoint.ts";
import type { ScannedLink } from "./scan.ts";

/** The endpoint for `s` (throws naming the link when its type is unsupported). */
export function createEndpoint(
  netns: string,
  s: ScannedLink,
  model: ModelName,
  queues: number,
): Endpoint {
  const kind = endpointKind(s);
  if (kind === "physical") return new PhysicalEndpoint(s);
  return new PodEndpoint(netns, s, kind, modelFor(kind, model), queues);
}
