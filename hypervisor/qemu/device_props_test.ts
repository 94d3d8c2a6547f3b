import { assertEquals } from "../../tests/assert.ts";
import { netdevArg } from "./command_line.ts";
import { deviceArg, scsiHdProps, virtioBlkProps, virtioNetProps } from "./device_props.ts";
import { qemuOptionsFromConfig } from "./options.ts";
import { HOST, SECTION } from "./options_testing.ts";

Deno.test("QEMU NIC arguments: vhost per config, multiqueue, typed QMP properties", () => {
  const o = qemuOptionsFromConfig({ ...SECTION, disable_vhost_net: true }, HOST);
  const n = {
    kind: "network" as const,
    id: "n",
    tapName: "tap0_kata",
    guestMac: "02:00:00:00:00:01",
    queues: 2,
    mtu: 1400,
  };
  assertEquals(
    netdevArg(o, n),
    "tap,id=net-n,ifname=tap0_kata,script=no,downscript=no,vhost=off,queues=2",
  );
  assertEquals(
    deviceArg(virtioNetProps(n), "bus=rp0"),
    "virtio-net-pci,netdev=net-n,id=nic-n,mac=02:00:00:00:00:01,romfile=,mq=on,vectors=6,host_mtu=1400,bus=rp0",
  );
  assertEquals(virtioNetProps(n), {
    driver: "virtio-net-pci",
    netdev: "net-n",
    id: "nic-n",
    mac: "02:00:00:00:00:01",
    romfile: "",
    mq: true,
    vectors: 6,
    host_mtu: 1400,
  });
});

Deno.test("QEMU disk properties are the same typed object for QMP and for the command line", () => {
  assertEquals(
    deviceArg(scsiHdProps("d/1", "drive-d_1", 3)),
    "scsi-hd,drive=drive-d_1,id=blk-d_1,bus=scsi0.0,channel=0,scsi-id=0,lun=3",
  );
  assertEquals(scsiHdProps("d", "node-d", 0), {
    driver: "scsi-hd",
    drive: "node-d",
    id: "blk-d",
    bus: "scsi0.0",
    channel: 0,
    "scsi-id": 0,
    lun: 0,
  });
  assertEquals(
    deviceArg(virtioBlkProps("d", "drive-d"), "addr=0x05"),
    "virtio-blk-pci,drive=drive-d,id=blk-d,addr=0x05",
  );
  // A comma inside a string value is doubled, so it cannot start another property.
  assertEquals(
    deviceArg({ driver: "x", id: "a,b", on: true, off: false }),
    "x,id=a,,b,on=on,off=off",
  );
});
