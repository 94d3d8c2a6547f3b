/**
 * The QEMU driver under real KVM (VM group: inside the nested test host when
 * this machine has no /dev/kvm). One boot checks: `-accel kvm -cpu host`, a
 * vhost-vsock CID allocated on /dev/vhost-vsock and reachable from the host
 * (a guest echo server on port 1024), a virtio-9p share the guest mounts, a
 * cold NIC and a hotplugged NIC on taps with vhost-net in a pod netns (the
 * guest sees both), a hotplugged disk the guest sees and then releases on
 * unplug (DEVICE_DELETED), the serial console in the shim log, pause/resume,
 * a clean quit, and no leftovers.
 */
import { assert, assertEquals } from "../assert.ts";
import { formatRecord, setupLogging } from "../../common/log.ts";
import { qemuOptionsFromConfig } from "../../hypervisor/qemu/options.ts";
import { Qemu } from "../../hypervisor/qemu/qemu.ts";
import { kernelAssets } from "./vmm_assets.ts";
import { vmTest } from "./deadline.ts";
import { runScript } from "../command.ts";
import { needs } from "../tier.ts";

const MODULES = [
  "virtio_pci",
  "virtio_net",
  "virtio_blk",
  "9pnet_virtio",
  "9p",
  "vmw_vsock_virtio_transport",
];

/** A static vsock echo server for the guest (busybox has none). */
const ECHO_C = `
#include <sys/socket.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
  int s = socket(AF_VSOCK, SOCK_STREAM, 0);
  struct sockaddr_vm a = {0};
  a.svm_family = AF_VSOCK; a.svm_port = 1024; a.svm_cid = VMADDR_CID_ANY;
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 4)) { perror("echo"); return 1; }
  printf("QEMU-GUEST-VSOCK-LISTENING\\n"); fflush(stdout);
  for (;;) {
    int c = accept(s, 0, 0); char b[256]; ssize_t n;
    if (c < 0) continue;
    while ((n = read(c, b, sizeof b)) > 0) write(c, b, n);
    close(c);
  }
}
`;

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.order); do insmod "/$m"; done
echo "QEMU-GUEST-INIT"
mkdir -p /shared
# The virtio-9p device probes asynchronously after insmod: retry the mount for a while.
for i in $(seq 1 50); do
  if mount -t 9p -o trans=virtio,version=9p2000.L kataShared /shared 2>/dev/null; then
    echo "QEMU-GUEST-9P=$(cat /shared/marker)"; break
  fi
  sleep 0.1
done
/bin/vsock-echo > /dev/ttyS0 &
last=""
lastb=""
for i in $(seq 1 600); do
  n=$(ls /sys/class/net | grep -v lo | tr '\\n' ' ')
  if [ "$n" != "$last" ]; then echo "QEMU-GUEST-NICS=$n"; last=$n; fi
  b=$(ls /sys/block | grep vd | tr '\\n' ' ')
  if [ "$b" != "$lastb" ]; then echo "QEMU-GUEST-BLK=$b."; lastb=$b; fi
  sleep 0.2
done
`;

/** Busybox, the virtio-pci/net/vsock modules, the echo server and /init, as a gzipped cpio. */
async function buildInitrd(dir: string): Promise<string> {
  const k = await kernelAssets();
  const tree = `${dir}/tree`;
  await Deno.mkdir(`${tree}/bin`, { recursive: true });
  await Deno.writeTextFile(`${tree}/init`, INIT, { mode: 0o755 });
  await Deno.writeTextFile(`${dir}/echo.c`, ECHO_C);
  await runScript(`
    cd "${tree}" && cp /bin/busybox bin/busybox
    gcc -static -O2 -o bin/vsock-echo "${dir}/echo.c"
    : >modules.order
    modprobe -d "${k.dir}" -S "${k.version}" --show-depends -a ${MODULES.join(" ")} |
      sed -n 's/^insmod \\([^ ]*\\).*/\\1/p' | while read -r p; do
        rel=\${p#"${k.dir}"/}
        grep -qxF "$rel" modules.order && continue
        mkdir -p "$(dirname "$rel")" && cp "$p" "$rel" && echo "$rel" >>modules.order
      done
    find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet | gzip -1 >"${dir}/initrd.gz"
  `);
  return `${dir}/initrd.gz`;
}

vmTest({
  name:
    "QEMU driver under KVM: vhost-vsock CID reachable, cold + hotplugged vhost-net NICs seen by the guest, console in the log",
  ignore: needs({ paths: ["/dev/kvm"] }).ignore,
  deadlineMs: 300_000,
}, async (ctx) => {
  {
    const dir = await Deno.makeTempDir({ prefix: "rtts-qkvm-" });
    const ns = `rtts-qk-${Math.floor(Math.random() * 1e9)}`;
    const lines: string[] = [];
    let wake = () => {};
    await setupLogging({
      level: "debug",
      sink: (r) => {
        const l = formatRecord(r);
        if (l.includes("vm console") || l.includes("stderr")) {
          lines.push(l);
          wake();
        }
      },
    });
    ctx.evidence("guest console and QEMU stderr (shim log lines)", () => lines.join(""));
    const waitFor = async (marker: string, ms: number, from = 0) => {
      ctx.step(`the guest console to print ${marker} (bound ${ms / 1000} s)`);
      const until = Date.now() + ms;
      while (!lines.slice(from).some((l) => l.includes(marker))) {
        if (Date.now() > until || ctx.signal.aborted) {
          throw new Error(`guest never printed ${marker}; console:\n${lines.join("")}`);
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((r) => {
          wake = r;
          timer = setTimeout(r, 500);
        });
        clearTimeout(timer);
      }
      return lines.slice(from).filter((l) => l.includes(marker)).at(-1)!;
    };
    ctx.step("the kernel assets and the test initrd (gcc, cpio)");
    const k = await kernelAssets();
    const initrd = await buildInitrd(dir);
    await runScript(
      `ip netns add ${ns}; ip -n ${ns} tuntap add tap0_kata mode tap vnet_hdr; ip -n ${ns} tuntap add tap1_kata mode tap vnet_hdr;
      ip -n ${ns} link set tap0_kata up; ip -n ${ns} link set tap1_kata up`,
    );
    const o = qemuOptionsFromConfig(
      {
        path: "qemu-system-x86_64",
        kernel: k.vmlinux,
        image: "",
        initrd,
        firmware: "",
        machine_type: "q35",
        machine_accelerators: "",
        cpu_features: "pmu=off",
        default_vcpus: 1,
        default_maxvcpus: 1,
        default_memory: 256,
        default_maxmemory: 512,
        memory_slots: 2,
        rootfs_type: "ext4",
        vm_rootfs_driver: "virtio-blk",
        block_device_driver: "virtio-blk",
        disable_block_device_use: false,
        kernel_params: "quiet",
        enable_debug: false,
        disable_vhost_net: false,
        network_queues: 1,
        entropy_source: "/dev/urandom",
        pcie_root_port: 2,
      },
      undefined,
      dir,
    );
    const qemu = new Qemu(o);
    let pid = 0;
    // Killing QEMU ends every wait on it; the finally then cleans up.
    ctx.onDeadline(() => {
      for (const p of qemu.pids()) {
        try {
          Deno.kill(p, "SIGKILL");
        } catch { /* gone */ }
      }
    });
    try {
      ctx.step("prepareVm, the cold NIC and the 9p share");
      await qemu.prepareVm({ id: "kvm1", netnsPath: `/run/netns/${ns}` });
      await qemu.addDevice({
        kind: "network",
        tapName: "tap0_kata",
        guestMac: "02:00:00:00:01:01",
        queues: 1,
      });
      await Deno.mkdir(`${dir}/share`);
      await Deno.writeTextFile(`${dir}/share/marker`, "shared-over-9p");
      await qemu.addDevice({
        kind: "share_fs",
        fsType: "virtio-9p",
        mountTag: "kataShared",
        hostPath: `${dir}/share`,
      });
      ctx.step("startVm (QMP up)");
      await qemu.startVm(60_000);
      pid = qemu.pids()[0];
      const sock = qemu.agentSocket();
      assertEquals(sock.kind, "vsock");
      await waitFor("QEMU-GUEST-VSOCK-LISTENING", 120_000);
      assert((await waitFor("QEMU-GUEST-NICS=", 10_000)).includes("eth0"));
      assert((await waitFor("QEMU-GUEST-9P=", 10_000)).includes("shared-over-9p"));

      // The host reaches the guest at the allocated CID (a separate Deno: vsock is unstable API).
      const cid = sock.kind === "vsock" ? sock.cid : 0;
      ctx.step(`a vsock echo from the guest at cid ${cid} port 1024`);
      const echo = await new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          "--unstable-vsock",
          `const c = await Deno.connect({ transport: "vsock", cid: ${cid}, port: 1024 });
           await c.write(new TextEncoder().encode("ping-over-vsock"));
           const b = new Uint8Array(64); const n = await c.read(b);
           console.log(new TextDecoder().decode(b.subarray(0, n ?? 0))); c.close();`,
        ],
        stdout: "piped",
        stderr: "piped",
        signal: ctx.signal,
      }).output();
      assertEquals(
        new TextDecoder().decode(echo.stdout).trim(),
        "ping-over-vsock",
        new TextDecoder().decode(echo.stderr),
      );

      // Hotplug a second NIC (vhost-net, PCIe root port): the guest sees eth1 appear.
      ctx.step("the NIC hotplug (QMP device_add)");
      const hot = await qemu.addDevice({
        kind: "network",
        tapName: "tap1_kata",
        guestMac: "02:00:00:00:01:02",
        queues: 1,
      });
      assertEquals((hot as { guestPath?: string }).guestPath, "10/00");
      const nics = await waitFor("eth1", 30_000);
      assert(nics.includes("eth0") && nics.includes("eth1"), nics);

      // Hotplug a disk: the guest sees vda; unplug waits for the guest to release it.
      await Deno.writeFile(`${dir}/disk.img`, new Uint8Array(1 << 20));
      ctx.step("the disk hotplug (QMP)");
      const disk = await qemu.addDevice({
        kind: "block",
        id: "d1",
        path: `${dir}/disk.img`,
        readOnly: true,
      });
      assertEquals((disk as { guestPath?: string }).guestPath, "11/00");
      await waitFor("QEMU-GUEST-BLK=vda", 30_000);
      const mark = lines.length;
      ctx.step("the disk unplug (DEVICE_DELETED)");
      await qemu.removeDevice(disk);
      await waitFor("QEMU-GUEST-BLK=.", 30_000, mark);

      ctx.step("stop and the VMM's exit");
      await qemu.stopVm();
      assertEquals(await qemu.waitVm(), { code: 0, signal: null });
    } finally {
      ctx.step("the driver's clean-up");
      await qemu.cleanup();
      await runScript(`ip netns del ${ns}`);
      await setupLogging({ level: "warning" });
    }
    assertEquals(qemu.pids(), []);
    assertEquals(await Deno.stat(`/proc/${pid}`).then(() => true, () => false), false);
    assertEquals([...Deno.readDirSync(`${dir}/kvm1`)], []);
    await Deno.remove(dir, { recursive: true });
  }
});
