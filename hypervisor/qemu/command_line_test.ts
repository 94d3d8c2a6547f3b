import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/assert.ts";
import { UnimplementedError } from "../../common/errors.ts";
import { qemuCommandLine } from "./command_line.ts";
import { qemuOptionsFromConfig } from "./options.ts";
import { HOST, SECTION } from "./options_testing.ts";

Deno.test("QEMU command line from the config: machine, CPU, memory, kernel, cold devices, hotplug ports", () => {
  const o = qemuOptionsFromConfig(SECTION, HOST);
  const { args, placements } = qemuCommandLine(o, {
    id: "sb",
    qmpSocket: "/run/kata/sb/qemu/qmp.sock",
    vsockCid: 77,
    imageSize: 4 << 20,
    devices: [
      { kind: "block", id: "b1", path: "/d.img", readOnly: false },
      { kind: "network", id: "n1", tapName: "tap0_kata", guestMac: "02:00:00:00:00:01", queues: 1 },
      {
        kind: "share_fs",
        id: "s1",
        fsType: "virtio-9p",
        mountTag: "kataShared",
        hostPath: "/run/kata-containers/shared/sandboxes/sb",
      },
    ],
  });
  assertEquals(args, [
    "-name",
    "sandbox-sb",
    "-machine",
    "q35,accel=kvm",
    "-cpu",
    "host,pmu=off",
    "-smp",
    "1,cores=1,threads=1,sockets=4,maxcpus=4",
    "-m",
    "2048M,slots=10,maxmem=8192M",
    "-kernel",
    "/k/vmlinux",
    "-append",
    "tsc=reliable no_timer_check rcupdate.rcu_expedited=1 i8042.direct=1 i8042.dumbkbd=1 i8042.nopnp=1 " +
    "i8042.noaux=1 noreplace-smp reboot=k cryptomgr.notests net.ifnames=0 pci=lastbus=0 console=ttyS0 " +
    "root=/dev/pmem0p1 rootflags=dax,data=ordered,errors=remount-ro ro rootfstype=ext4 panic=1 nr_cpus=4 " +
    "scsi_mod.scan=none systemd.unit=kata-containers.target systemd.mask=systemd-networkd.service " +
    "systemd.mask=systemd-networkd.socket cgroup_no_v1=all",
    "-no-user-config",
    "-nodefaults",
    "-nographic",
    "-no-reboot",
    "-rtc",
    "base=utc,driftfix=slew,clock=host",
    "-global",
    "kvm-pit.lost_tick_policy=discard",
    "-qmp",
    "unix:/run/kata/sb/qemu/qmp.sock,server=on,wait=off",
    "-chardev",
    "stdio,id=serial0,signal=off",
    "-serial",
    "chardev:serial0",
    // A comma in a path is doubled, as QEMU's option syntax wants.
    "-object",
    "memory-backend-file,id=pmem-rootfs,mem-path=/k/kata,,img,size=4194304,share=on,readonly=on",
    "-device",
    "virtio-pmem-pci,id=rootfs,memdev=pmem-rootfs,addr=0x02",
    "-object",
    "rng-random,id=rng0,filename=/dev/urandom",
    "-device",
    "virtio-rng-pci,rng=rng0,id=rng,addr=0x03",
    "-device",
    "vhost-vsock-pci,id=vsock,guest-cid=77,addr=0x04",
    "-drive",
    "if=none,id=drive-b1,file=/d.img,format=raw,readonly=off,aio=threads",
    "-device",
    "virtio-blk-pci,drive=drive-b1,id=blk-b1,addr=0x05",
    "-netdev",
    "tap,id=net-n1,ifname=tap0_kata,script=no,downscript=no,vhost=on",
    "-device",
    "virtio-net-pci,netdev=net-n1,id=nic-n1,mac=02:00:00:00:00:01,romfile=,addr=0x06",
    "-fsdev",
    "local,id=fsdev-s1,path=/run/kata-containers/shared/sandboxes/sb,security_model=none,multidevs=remap",
    "-device",
    "virtio-9p-pci,id=fs-s1,fsdev=fsdev-s1,mount_tag=kataShared,addr=0x07",
    "-device",
    "pcie-root-port,id=rp0,bus=pcie.0,chassis=1,slot=1,addr=0x10",
    "-device",
    "pcie-root-port,id=rp1,bus=pcie.0,chassis=2,slot=2,addr=0x11",
  ]);
  assertEquals([...placements], [["b1", { guestPath: "05" }], ["n1", { guestPath: "06" }], ["s1", {
    guestPath: "07",
  }]]);
});

Deno.test("QEMU command line variants: TCG, virtio-blk rootfs, initrd, virtio-scsi, virtio-fs, debug", () => {
  const o = {
    ...qemuOptionsFromConfig(
      {
        ...SECTION,
        vm_rootfs_driver: "virtio-blk-pci",
        block_device_driver: "virtio-scsi",
        enable_debug: true,
        memory_slots: 0,
      },
      HOST,
    ),
    accel: "tcg" as const,
  };
  const { args, placements } = qemuCommandLine(o, {
    id: "sb",
    qmpSocket: "/q.sock",
    vsockCid: 3,
    imageSize: 0,
    devices: [
      { kind: "block", id: "b1", path: "/d.img", readOnly: true },
      {
        kind: "share_fs",
        id: "f",
        fsType: "virtio-fs",
        mountTag: "kataShared",
        hostPath: "",
        socketPath: "/vfs.sock",
      },
    ],
  });
  const joined = args.join(" ");
  assertStringIncludes(joined, "-machine q35,accel=tcg -cpu max,pmu=off");
  assertStringIncludes(
    joined,
    "-m 2048M -object memory-backend-file,id=dimm1,size=2048M,mem-path=/dev/shm,share=on -numa node,memdev=dimm1",
  );
  assertStringIncludes(
    joined,
    "root=/dev/vda1 rootflags=data=ordered,errors=remount-ro ro rootfstype=ext4",
  );
  assertStringIncludes(joined, "agent.log=debug cgroup_no_v1=all");
  assertStringIncludes(
    joined,
    "-drive if=none,id=drive-rootfs,file=/k/kata,,img,format=raw,readonly=on,aio=threads",
  );
  assertStringIncludes(joined, "-device virtio-scsi-pci,id=scsi0,addr=0x0f");
  assertStringIncludes(
    joined,
    "-device scsi-hd,drive=drive-b1,id=blk-b1,bus=scsi0.0,channel=0,scsi-id=0,lun=0",
  );
  assertStringIncludes(
    joined,
    "-chardev socket,id=char-f,path=/vfs.sock -device vhost-user-fs-pci,id=fs-f,chardev=char-f,tag=kataShared,queue-size=1024,addr=0x",
  );
  assertEquals(joined.includes("kvm-pit"), false);
  assertEquals(placements.get("b1"), { guestPath: "0:0" });

  const initrd = qemuCommandLine(
    qemuOptionsFromConfig({ ...SECTION, image: "", initrd: "/k/initrd.img" }, HOST),
    { id: "sb", qmpSocket: "/q.sock", vsockCid: 3, imageSize: 0, devices: [] },
  ).args.join(" ");
  assertStringIncludes(initrd, "-kernel /k/vmlinux -initrd /k/initrd.img -append");
  assertEquals(initrd.includes("root="), false);
  assertThrows(
    () =>
      qemuCommandLine(o, {
        id: "sb",
        qmpSocket: "/q",
        vsockCid: 3,
        imageSize: 0,
        devices: [{ kind: "vfio", id: "v", bdf: "0000:00:01.0" }],
      }),
    UnimplementedError,
    "VFIO passthrough is not supported",
  );
});
