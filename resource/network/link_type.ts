/**
 * The link type string runtime-rs derives from a link's `IFLA_INFO_KIND`:
 * known kinds keep a name, everything else (and links with no kind) is a
 * plain "device".
 * @module
 */

/** Link types the network resource distinguishes. */
export type LinkType =
  | "tuntap"
  | "veth"
  | "ipvlan"
  | "macvlan"
  | "vlan"
  | "bridge"
  | "macvtap"
  | "device";

/** Maps an `IFLA_INFO_KIND` value to its {@link LinkType}. */
export function linkType(kind: string): LinkType {
  switch (kind) {
    case "tun":
      return "tuntap";
    case "veth":
    case "ipvlan":
    case "macvlan":
    case "vlan":
    case "bridge":
    case "macvtap":
      return kind;
    default:
      return "device";
  }
}
