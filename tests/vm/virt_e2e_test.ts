/**
 * VM group, end to end: a private containerd runs busybox through our shim
 * with the VirtContainer runtime on QEMU (KVM, vhost-vsock; the shipped
 * `shared_fs = "virtio-fs"` served by Debian's virtiofsd, which the guest
 * drop-in of guest_config.ts names), the
 * guest kernel and agent from scripts/build-guest. A container in a pod
 * network namespace prints the kernel's boot id, which must differ from the
 * host's (it ran in the VM), and pings a peer namespace through the VM's
 * NIC; a detached second one gets an exec right after its start (output,
 * exit code) and a kill. Each container ends with a leak check (shim,
 * mounts, FIFOs, /run/kata/<id>, bundle); at the end no VMM process, pod
 * namespace, kata mount or /run/kata entry is left.
 *
 * Needs /dev/kvm and /dev/vhost-vsock: scripts/test-vm runs it inside
 * scripts/testhost where this machine has none.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../assert.ts";
import { Containerd, IMAGE } from "../containerd/harness.ts";
import { configWithBuiltGuest, SLOW_VM_CONTAINERD } from "./guest_config.ts";
import { killClients, vmTest } from "./deadline.ts";
import { runScript } from "../command.ts";
import { needs } from "../tier.ts";

/** Runs shell lines; throws with the output when one fails. */
/** Entry names of `dir`; none when it does not exist. */
async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) out.push(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out;
}

/** Nothing of a sandbox is left on this host: VMM processes, netns, mounts, /run/kata entries. */
async function assertHostClean(): Promise<void> {
  const qemu: string[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const comm = await Deno.readTextFile(`/proc/${e.name}/comm`).catch(() => "");
    if (comm.startsWith("qemu")) qemu.push(`${e.name} ${comm.trim()}`);
  }
  assertEquals(qemu, [], "VMM processes left");
  const netns = (await names("/var/run/netns")).filter((n) => n.startsWith("rts-virt"));
  assertEquals(netns, [], "network namespaces left");
  const mounts = (await Deno.readTextFile("/proc/self/mountinfo")).split("\n")
    .filter((l) => l.includes("/run/kata/"));
  assertEquals(mounts, [], "mounts under /run/kata left");
  assertEquals(await names("/run/kata"), [], "/run/kata entries left");
}

vmTest({
  name:
    "ctr run through the VirtContainer runtime on QEMU: the container runs in a VM; pod network; exec exit code, kill; no leaks",
  ignore: needs({ paths: ["/dev/kvm"] }).ignore,
  deadlineMs: 540_000,
}, async (ctx) => {
  {
    // Under nested emulation Deno alone starts in seconds: give the shim's
    // `start` (and containerd's wait for it) room, as a slow host would.
    ctx.step("containerd to start");
    const c = await Containerd.start(SLOW_VM_CONTAINERD);
    ctx.evidence("containerd log (with the shim's and the guest console's lines)", () => c.log());
    // A hung `ctr` client is killed: the body's finally then stops containerd's tasks.
    ctx.onDeadline(() => killClients("ctr", c.address));
    const cfgDir = await Deno.makeTempDir({ prefix: "rts-virt-cfg-" });
    try {
      const config = await configWithBuiltGuest("qemu", cfgDir);
      // `ctr run FLAGS` of busybox through our shim with the test configuration.
      const run = (flags: string[], id: string, ...cmd: string[]) =>
        c.ctr(
          "run",
          ...flags,
          "--runtime",
          c.shim,
          "--runtime-config-path",
          config,
          IMAGE,
          id,
          ...cmd,
        );

      // One sandbox in a pod network namespace (a veth to a peer namespace, as
      // CNI's ptp plugin sets it up): the container prints the kernel's boot id
      // (it must differ from the host's: it ran in the VM), then its NIC (moved
      // into the VM) reaches the peer. One boot covers both checks.
      const hostBoot = (await Deno.readTextFile("/proc/sys/kernel/random/boot_id")).trim();
      await runScript([
        "ip netns add rts-virt-pod; ip netns add rts-virt-peer",
        "ip -n rts-virt-pod link add eth0 type veth peer name peer0 netns rts-virt-peer",
        "ip -n rts-virt-pod addr add 10.77.0.2/24 dev eth0",
        "ip -n rts-virt-pod link set eth0 up; ip -n rts-virt-pod link set lo up",
        "ip -n rts-virt-peer addr add 10.77.0.1/24 dev peer0; ip -n rts-virt-peer link set peer0 up",
      ].join("\n"));
      try {
        ctx.step("`ctr run --rm vm1` in the pod network (VM boot, agent, ping) to end");
        const p = await run(
          ["--rm", "--with-ns", "network:/var/run/netns/rts-virt-pod"],
          "vm1",
          "sh",
          "-c",
          "cat /proc/sys/kernel/random/boot_id; ip addr show eth0; ping -c 1 -W 10 10.77.0.1",
        );
        if (p.code !== 0) console.error((await c.log()).slice(-8000));
        assertEquals(p.code, 0, `ctr run failed: ${p.stdout}${p.stderr}`);
        const guestBoot = p.stdout.split("\n")[0].trim();
        assertMatch(guestBoot, /^[0-9a-f-]{36}$/);
        assert(
          guestBoot !== hostBoot,
          "the container saw the host's kernel: it did not run in a VM",
        );
        assertStringIncludes(p.stdout, "10.77.0.2/24");
        assertStringIncludes(p.stdout, "1 packets received");
        await c.assertNoLeaks("vm1");
      } finally {
        await runScript("ip netns del rts-virt-pod; ip netns del rts-virt-peer");
      }

      // A detached container: an exec right after the start (stdout and exit code
      // through the agent), then kill.
      ctx.step("`ctr run -d vm2` to start the container");
      const d = await run(["-d"], "vm2", "sleep", "600");
      assertEquals(d.code, 0, `ctr run -d failed: ${d.stdout}${d.stderr}`);
      ctx.step("`ctr task exec e1` in vm2 to end");
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
      ctx.step("vm2 to stop after SIGKILL");
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
      ctx.step("containerd's clean-up");
      await c.stop();
      await Deno.remove(cfgDir, { recursive: true });
    }
    ctx.step("the host clean-up check");
    await assertHostClean();
  }
});
