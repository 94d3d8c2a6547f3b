/**
 * ethtool through SIOCETHTOOL: the driver name and bus info of a link, which
 * tell a PCI device (bus info is a PCI address) from a virtual one.
 * @module
 */
import { closeFd } from "./fd.ts";
import { ioctlBuf } from "./ioctl.ts";
import { inNetns } from "./netns.ts";
import { AF, openSocket, SOCK } from "./socket.ts";
import { ifreq } from "./tun.ts";

const SIOCETHTOOL = 0x8946;
const ETHTOOL_GDRVINFO = 3;
const DRVINFO_SIZE = 196;

/** What ETHTOOL_GDRVINFO reports. */
interface DriverInfo {
  driver: string;
  version: string;
  busInfo: string;
}

/** Decodes a `struct ethtool_drvinfo`. */
export function parseDriverInfo(b: Uint8Array): DriverInfo {
  const field = (off: number) => {
    const s = b.subarray(off, off + 32);
    const z = s.indexOf(0);
    return new TextDecoder().decode(z < 0 ? s : s.subarray(0, z));
  };
  return { driver: field(4), version: field(36), busInfo: field(100) };
}

/** ETHTOOL_GDRVINFO for link `name` in the namespace at `netns`. */
export function driverInfo(netns: string, name: string): DriverInfo {
  const fd = inNetns(netns, () => openSocket(AF.INET, SOCK.DGRAM, 0));
  try {
    const info = new Uint8Array(DRVINFO_SIZE);
    new DataView(info.buffer).setUint32(0, ETHTOOL_GDRVINFO, true);
    const req = ifreq(name);
    new DataView(req.buffer).setBigUint64(
      16,
      BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(info))),
      true,
    );
    ioctlBuf(fd, SIOCETHTOOL, req, `SIOCETHTOOL GDRVINFO ${name}`);
    return parseDriverInfo(info);
  } finally {
    closeFd(fd);
  }
}

/** True when `busInfo` is a PCI address (`dddd:bb:dd.f`: three colon-separated parts). */
export function isPciBusInfo(busInfo: string): boolean {
  return busInfo.split(":").length === 3;
}
