/**
 * VM group, end to end: a private containerd runs busybox through our shim
 * with the VirtContainer runtime on QEMU (KVM, vhost-vsock; the shipped
 * `shared_fs = "virtio-fs"` falls back to virtio-9p where virtiofsd is
 * missing, as on the test machines), the
 * guest kernel and agent from scripts/build-guest. The container prints the
 * kernel's boot id, which must differ from the host's (it ran in the VM);
 * a second runs in a pod network namespace and pings a peer namespace
 * through the VM's NIC; a detached third checks an exec's output and exit
 * code and a kill. Each container ends with a leak check (shim, mounts, FIFOs,
 * /run/kata/<id>, bundle).
 *
 * Needs /dev/kvm and /dev/vhost-vsock: scripts/test-vm runs it inside
 * scripts/testhost where this machine has none.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../assert.ts";
import { Containerd, IMAGE } from "../containerd/harness.ts";

const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
const GUEST = `${ROOT}/.cache/guest`;

/** Runs shell lines; throws with the output when one fails. */
async function sh(...lines: string[]): Promise<void> {
  const out = await new Deno.Command("sh", { args: ["-ec", lines.join("\n")] }).output();
  if (!out.success) {
    const t = new TextDecoder();
    throw new Error(`${lines.join("; ")}: ${t.decode(out.stdout)}${t.decode(out.stderr)}`);
  }
}

/** A copy of the shipped QEMU configuration with a drop-in pointing at the built guest. */
async function testConfig(dir: string): Promise<string> {
  const file = `${dir}/configuration-qemu.toml`;
  await Deno.copyFile(`${ROOT}/config/configuration-qemu.toml`, file);
  await Deno.mkdir(`${dir}/config.d`);
  await Deno.writeTextFile(
    `${dir}/config.d/50-test-guest.toml`,
    [
      "[hypervisor.qemu]",
      `kernel = "${GUEST}/vmlinux"`,
      'image = ""',
      `initrd = "${GUEST}/kata-containers-initrd.img"`,
      "default_memory = 1024",
      "",
      "[agent.kata]",
      // A nested guest under software emulation boots in tens of seconds.
      "dial_timeout_ms = 100",
      "reconnect_timeout_ms = 240000",
      "",
    ].join("\n"),
  );
  return file;
}

Deno.test({
  name:
    "ctr run through the VirtContainer runtime on QEMU: the container runs in a VM; pod network; exec exit code, kill; no leaks",
  ignore: !(await Deno.stat("/dev/kvm").catch(() => null)),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    for (const f of ["vmlinux", "kata-containers-initrd.img"]) {
      await Deno.stat(`${GUEST}/${f}`).catch(() => {
        throw new Error(`Guest artifact ${GUEST}/${f} is missing: run scripts/build-guest`);
      });
    }
    const cfgDir = await Deno.makeTempDir({ prefix: "rts-virt-cfg-" });
    // Under nested emulation Deno alone starts in seconds: give the shim's
    // `start` (and containerd's wait for it) room, as a slow host would.
    const c = await Containerd.start({
      extraConfig: ["[timeouts]", '  "io.containerd.timeout.shim.load" = "60s"'],
      shimEnv: { KATA_SHIM_READY_TIMEOUT_MS: "55000" },
    });
    try {
      const config = await testConfig(cfgDir);
      const run = (id: string, ...cmd: string[]) =>
        c.ctr(
          "run",
          "--rm",
          "--runtime",
          c.shim,
          "--runtime-config-path",
          config,
          IMAGE,
          id,
          ...cmd,
        );

      const hostBoot = (await Deno.readTextFile("/proc/sys/kernel/random/boot_id")).trim();
      const r = await run("vm1", "cat", "/proc/sys/kernel/random/boot_id");
      if (r.code !== 0) console.error((await c.log()).slice(-8000));
      assertEquals(r.code, 0, `ctr run failed: ${r.stdout}${r.stderr}`);
      const guestBoot = r.stdout.trim();
      assertMatch(guestBoot, /^[0-9a-f-]{36}$/);
      assert(guestBoot !== hostBoot, "the container saw the host's kernel: it did not run in a VM");
      await c.assertNoLeaks("vm1");

      // A sandbox in a pod network namespace (a veth to a peer namespace, as CNI's
      // ptp plugin sets it up): the NIC goes to the VM and the guest reaches the peer.
      await sh(
        "ip netns add rts-virt-pod; ip netns add rts-virt-peer",
        "ip -n rts-virt-pod link add eth0 type veth peer name peer0 netns rts-virt-peer",
        "ip -n rts-virt-pod addr add 10.77.0.2/24 dev eth0",
        "ip -n rts-virt-pod link set eth0 up; ip -n rts-virt-pod link set lo up",
        "ip -n rts-virt-peer addr add 10.77.0.1/24 dev peer0; ip -n rts-virt-peer link set peer0 up",
      );
      try {
        const p = await c.ctr(
          "run",
          "--rm",
          "--with-ns",
          "network:/var/run/netns/rts-virt-pod",
          "--runtime",
          c.shim,
          "--runtime-config-path",
          config,
          IMAGE,
          "vm3",
          "sh",
          "-c",
          "ip addr show eth0; ping -c 1 -W 10 10.77.0.1",
        );
        assertEquals(p.code, 0, `networked run failed: ${p.stdout}${p.stderr}`);
        assertStringIncludes(p.stdout, "10.77.0.2/24");
        assertStringIncludes(p.stdout, "1 packets received");
        await c.assertNoLeaks("vm3");
      } finally {
        await sh("ip netns del rts-virt-pod; ip netns del rts-virt-peer");
      }

      // A detached container: exec (stdout and exit code through the agent), then kill.
      const d = await c.ctr(
        "run",
        "-d",
        "--runtime",
        c.shim,
        "--runtime-config-path",
        config,
        IMAGE,
        "vm2",
        "sleep",
        "600",
      );
      assertEquals(d.code, 0, `ctr run -d failed: ${d.stdout}${d.stderr}`);
      const e = await c.ctr(
        "task",
        "exec",
        "--exec-id",
        "e1",
        "vm2",
        "sh",
        "-c",
        "echo out; exit 7",
      );
      assertEquals(e.code, 7, `exec exit code: ${e.stdout}${e.stderr}`);
      assertEquals(e.stdout.trim(), "out");
      await c.ctrMust("task", "kill", "-s", "SIGKILL", "vm2");
      let listed = "";
      for (let i = 0; i < 200; i++) {
        listed = await c.ctrMust("task", "ls");
        if (/vm2\s+\d+\s+STOPPED/.test(listed)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assertMatch(listed, /vm2\s+\d+\s+STOPPED/);
      await c.ctrMust("task", "rm", "vm2");
      await c.ctrMust("container", "rm", "vm2");
      await c.assertNoLeaks("vm2");
    } finally {
      await c.stop();
      await Deno.remove(cfgDir, { recursive: true });
    }
  },
});
