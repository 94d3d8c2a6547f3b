/**
 * VM group: the guest image from scripts/build-guest boots under QEMU with
 * KVM and vhost-vsock; the project's agent client connects over AF_VSOCK
 * and, through the agent API alone, creates a sandbox (container rootfs on a
 * 9p share), runs a container that prints to stdout, execs into it, signals
 * it, reads exit codes and removes it. All checks share one boot. Prints the
 * boot-to-agent-ready time and keeps it in `.cache/bench/guest-boot.json`
 * (git-ignored) for `deno task bench guest-boot`, which writes the table:
 * tests never modify tracked files.
 *
 * Needs /dev/kvm and /dev/vhost-vsock (scripts/test-vm runs it inside
 * scripts/testhost where they are absent) and the guest artifacts
 * (scripts/test-vm builds them first).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { kataAgent } from "../../agent/kata_agent.ts";
import { forwardAgentLogs } from "../../agent/log_forwarder.ts";
import { SpecSchema } from "../../agent/gen/oci_pb.ts";
import { vmTest } from "./deadline.ts";
import { GUEST_BOOT_RECORD, type GuestBootRecord } from "../../bench/guest_boot.ts";
import { needs } from "../tier.ts";

const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
const GUEST = `${ROOT}/.cache/guest`;
const SHARED = "/run/kata-containers/shared/containers";
const MAC = "02:00:0a:63:00:02";
const dec = new TextDecoder();

async function readAll(read: () => Promise<{ data: Uint8Array }>): Promise<string> {
  let text = "";
  for (;;) {
    const { data } = await read();
    if (data.length === 0) return text;
    text += dec.decode(data);
  }
}

async function busyboxRootfs(rootfs: string): Promise<void> {
  for (const d of ["bin", "proc", "dev", "tmp", "sys"]) {
    await Deno.mkdir(`${rootfs}/${d}`, { recursive: true });
  }
  await Deno.copyFile("/bin/busybox", `${rootfs}/bin/busybox`);
  await Deno.chmod(`${rootfs}/bin/busybox`, 0o755);
  for (const a of ["sh", "sleep", "echo", "cat", "hostname", "uname", "tty", "stty"]) {
    await Deno.symlink("busybox", `${rootfs}/bin/${a}`);
  }
}

vmTest({
  name: "guest agent over vsock: sandbox, container output, exec, signal, exit codes, removal",
  ignore: needs({ paths: ["/dev/kvm", "/dev/vhost-vsock"] }).ignore,
  deadlineMs: 360_000,
}, async (ctx) => {
  {
    for (const f of ["vmlinux", "kata-containers-initrd.img"]) {
      await Deno.stat(`${GUEST}/${f}`).catch(() => {
        throw new Error(`Guest artifact ${GUEST}/${f} is missing: run scripts/build-guest`);
      });
    }
    const dir = await Deno.makeTempDir({ prefix: "rts-vm-agent-" });
    const id = "c1";
    await busyboxRootfs(`${dir}/shared/${id}/rootfs`);
    const cid = 3 + Math.floor(Math.random() * 1_000_000);
    const started = performance.now();
    const qemu = new Deno.Command("qemu-system-x86_64", {
      args: [
        ...["-accel", "kvm", "-cpu", "host", "-m", "1024", "-smp", "1", "-machine", "q35"],
        ...["-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"],
        ...["-kernel", `${GUEST}/vmlinux`, "-initrd", `${GUEST}/kata-containers-initrd.img`],
        ...["-append", "console=ttyS0 quiet panic=-1"],
        ...["-serial", `file:${dir}/console.log`],
        ...["-device", `vhost-vsock-pci,guest-cid=${cid}`],
        // A NIC on a hub with no other port: the guest configures it, nothing leaves.
        ...["-netdev", "hubport,id=n0,hubid=0"],
        ...["-device", `virtio-net-pci,netdev=n0,mac=${MAC}`],
        "-virtfs",
        `local,path=${dir}/shared,mount_tag=kataShared,security_model=none,id=shared`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const client = kataAgent(`vsock://${cid}:1024`, { reconnectTimeoutMs: 1000 });
    const agentLog: string[] = [];
    const logs = forwardAgentLogs({ kind: "vsock", cid, port: 1024 }, (l) => agentLog.push(l));
    ctx.evidence("guest console", () => Deno.readTextFile(`${dir}/console.log`));
    ctx.evidence("agent log", () => agentLog.join("\n"));
    // Killing QEMU fails any agent call in flight, so the body unwinds through its finally.
    ctx.onDeadline(() => {
      try {
        qemu.kill("SIGKILL");
      } catch { /* already exited */ }
    });
    try {
      ctx.step(`the agent to answer over vsock (cid ${cid}) after QEMU's boot`);
      const ready = Promise.race([
        client.waitReady(240_000),
        qemu.status.then((s) => {
          throw new Error(`QEMU exited early (${s.code})`);
        }),
      ]);
      await ready;
      const bootMs = performance.now() - started;
      console.log(`boot to agent ready: ${(bootMs / 1000).toFixed(1)} s`);
      await recordBoot(bootMs);
      ctx.step("the agent API checks (interfaces, routes, sandbox, containers, exec, tty)");

      const details = await client.getGuestDetails({ memBlockSize: true });
      assertEquals(details.agentDetails?.version, "4.0.0-runtime-ts");
      const ifaces = await client.listInterfaces({});
      assert(ifaces.Interfaces.some((i) => i.name === "lo"), "the guest lists lo");
      await assertRejects(
        () =>
          client.updateInterface({
            interface: { name: "eth0", hwAddr: "02:00:00:00:00:99", IPAddresses: [] },
          }),
        ConnectError,
        "Link not found",
      );
      // Networking as runtime-rs sets it up: interface, routes, ARP neighbours.
      await client.updateInterface({
        interface: {
          name: "eth0",
          hwAddr: MAC,
          mtu: 1400n,
          IPAddresses: [{ address: "10.99.0.2", mask: "24" }],
        },
      });
      const eth0 = (await client.listInterfaces({})).Interfaces.find((i) => i.name === "eth0");
      assertEquals([eth0?.hwAddr, eth0?.mtu], [MAC, 1400n]);
      // The kernel adds an IPv6 link-local address of its own once the link is up.
      assert(
        eth0?.IPAddresses.some((a) => `${a.address}/${a.mask}` === "10.99.0.2/24"),
        `eth0 has its address: ${JSON.stringify(eth0?.IPAddresses.map((a) => a.address))}`,
      );
      const routes = await client.updateRoutes({
        routes: {
          Routes: [
            { dest: "10.99.0.0/24", device: "eth0", source: "10.99.0.2", scope: 253 },
            { dest: "", gateway: "10.99.0.1", device: "eth0" },
          ],
        },
      });
      assert(
        routes.Routes.some((r) =>
          r.dest === "" && r.gateway === "10.99.0.1" && r.device === "eth0"
        ),
        `default route set: ${JSON.stringify(routes.Routes.map((r) => [r.dest, r.gateway]))}`,
      );
      await client.addARPNeighbors({
        neighbors: {
          ARPNeighbors: [{
            toIPAddress: { address: "10.99.0.1" },
            device: "eth0",
            lladdr: "02:00:0a:63:00:01",
          }],
        },
      });

      const arp = await client.listInterfaces({});
      assert(arp.Interfaces.length >= 2, "lo and eth0 listed");

      await client.createSandbox({
        sandboxId: "sb-vm",
        hostname: "kata-vm",
        storages: [{
          driver: "9p",
          source: "kataShared",
          fstype: "9p",
          options: ["trans=virtio", "nodev"],
          mountPoint: SHARED,
        }],
      });
      // An ephemeral volume is mounted, then grown by a remount.
      for (const size of ["1m", "2m"]) {
        await client.updateEphemeralMounts({
          storages: [{
            driver: "ephemeral",
            source: "tmpfs",
            fstype: "tmpfs",
            options: [`size=${size}`],
            mountPoint: "/run/kata-containers/sandbox/ephemeral/scratch",
          }],
        });
      }
      await client.createContainer({
        containerId: id,
        execId: id,
        OCI: create(SpecSchema, {
          Version: "1.0.2",
          Process: {
            Args: ["sh", "-c", "echo hello from $(uname -s); sleep 300"],
            Env: ["PATH=/bin"],
            Cwd: "/",
          },
          Root: { Path: `${SHARED}/${id}/rootfs` },
          Hostname: id,
          Mounts: [
            { destination: "/proc", type: "proc", source: "proc" },
            { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["mode=755"] },
            {
              destination: "/dev/pts",
              type: "devpts",
              source: "devpts",
              options: ["newinstance", "ptmxmode=0666", "mode=0620"],
            },
          ],
          Linux: {
            CgroupsPath: `/kata/${id}`,
            Namespaces: [{ Type: "pid" }, { Type: "mount" }, { Type: "ipc" }, { Type: "uts" }, {
              Type: "network",
            }],
          },
        }),
      });
      await client.startContainer({ containerId: id });
      const hello = dec.decode((await client.readStdout({ containerId: id, len: 4096 })).data);
      assertEquals(hello, "hello from Linux\n");

      await client.execProcess({
        containerId: id,
        execId: "e1",
        process: {
          Args: ["sh", "-c", "echo exec in $(hostname); echo oops >&2; exit 5"],
          Env: ["PATH=/bin"],
          Cwd: "/",
        },
      });
      const [out, err, exec] = await Promise.all([
        readAll(() => client.readStdout({ containerId: id, execId: "e1", len: 4096 })),
        readAll(() => client.readStderr({ containerId: id, execId: "e1", len: 4096 })),
        client.waitProcess({ containerId: id, execId: "e1" }),
      ]);
      assertEquals([out, err, exec.status], [`exec in ${id}\n`, "oops\n", 5]);

      // A terminal exec: the agent relays the pty runc made and resizes it.
      await client.execProcess({
        containerId: id,
        execId: "t1",
        process: {
          Terminal: true,
          Args: ["sh", "-c", "read x; tty; stty size; echo got $x"],
          Env: ["PATH=/bin"],
          Cwd: "/",
        },
      });
      await client.ttyWinResize({ containerId: id, execId: "t1", row: 40, column: 120 });
      await client.writeStdin({
        containerId: id,
        execId: "t1",
        data: new TextEncoder().encode("yo\n"),
      });
      const [tty, ttyExit] = await Promise.all([
        readAll(() => client.readStdout({ containerId: id, execId: "t1", len: 4096 })),
        client.waitProcess({ containerId: id, execId: "t1" }),
      ]);
      assert(
        /\/dev\/pts\/\d+\r\n40 120\r\ngot yo\r\n/.test(tty),
        `terminal output: ${JSON.stringify(tty)}`,
      );
      assertEquals(ttyExit.status, 0);

      await client.signalProcess({ containerId: id, execId: "", signal: 9 });
      assertEquals((await client.waitProcess({ containerId: id, execId: "" })).status, 137);
      await client.removeContainer({ containerId: id, timeout: 10 });
      const gone = await assertRejects(
        () => client.waitProcess({ containerId: id, execId: "" }),
        ConnectError,
      );
      assertEquals(gone.code, Code.NotFound);
      ctx.step("destroySandbox and the agent's log lines");
      await client.destroySandbox({});
      await client.check({});
      // The agent's log port (1025) carried its lines to the forwarder.
      const deadline = Date.now() + 10_000;
      while (
        !agentLog.some((l) => l.includes(": removed") && l.includes(`id="${id}"`)) &&
        Date.now() < deadline
      ) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert(
        agentLog.some((l) => l.includes(": started") && l.includes(`id="${id}"`)),
        `agent log forwarded over vsock 1025: ${agentLog.join("\n")}`,
      );
    } catch (err) {
      const console = await Deno.readTextFile(`${dir}/console.log`).catch(() => "");
      throw new Error(`${err}\n--- guest console (tail) ---\n${console.slice(-3000)}`, {
        cause: err,
      });
    } finally {
      logs.close();
      client.close();
      try {
        qemu.kill("SIGKILL");
      } catch {
        // already exited
      }
      await qemu.status;
      await qemu.stderr.cancel().catch(() => {});
      await logs.done;
      await Deno.remove(dir, { recursive: true });
    }
  }
});

/** Keeps the figure for `deno task bench guest-boot` (git-ignored: tests leave tracked files alone). */
async function recordBoot(ms: number): Promise<void> {
  const record: GuestBootRecord = {
    when: new Date().toISOString(),
    where: Deno.env.get("TESTHOST") ? "nested KVM in the TCG test host" : "KVM",
    ms: Math.round(ms),
  };
  await Deno.mkdir(`${ROOT}/.cache/bench`, { recursive: true });
  await Deno.writeTextFile(GUEST_BOOT_RECORD, JSON.stringify(record) + "\n");
}
