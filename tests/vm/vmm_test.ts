/**
 * The built-in VMM booting Debian's kernel for real (inside the nested KVM
 * test host). Checks are batched into two boots because each costs tens of
 * seconds under emulation:
 *  1. vmlinux (PVH entry), 2 vCPUs, a read-only virtio-blk disk with a
 *     marker, virtio-net on a tap in a test netns (the guest pings the tap's
 *     address), hybrid vsock both ways (host → guest echo on port 1024 through
 *     `CONNECT`, guest → host on port 1025 through `<uds>_1025`);
 *  2. bzImage (64-bit Linux boot protocol), 1 vCPU, a virtio-9p share the
 *     guest mounts (9P2000.L): reads, writes, lists, mkdir/rmdir, symlink.
 * Each boot runs the real `containerd-shim-kata-v2 vmm` command line and must
 * end with exit code 0 when the guest powers off (ACPI S5, boot 1) or
 * reboots (i8042 reset, boot 2). A third, a two-byte ELF kernel that
 * executes `ud2` with no IDT, checks that a triple fault fails the VMM
 * (exit code 1) naming the vCPU and where it was.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../assert.ts";
import { ensureKvm, kernelAssets, markerDisk, tapInNetns, testInitrd } from "./vmm_assets.ts";
import { vmTest, type VmTestContext } from "./deadline.ts";

const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
const BOOT_TIMEOUT_MS = 240_000;
const CMDLINE = "console=ttyS0 reboot=k panic=1 pci=off quiet";

interface Boot {
  output: string;
  code: number;
}

/** Runs `vmm` with `args`, calling `onOutput` with the output so far as it grows. */
async function boot(
  ctx: VmTestContext,
  args: string[],
  onOutput?: (out: string) => void,
): Promise<Boot> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}/main.ts`, "vmm", ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), BOOT_TIMEOUT_MS);
  let output = "";
  ctx.step("the VMM's guest to run its checks and end (serial console on stdout)");
  ctx.evidence("VMM serial console", () => output);
  ctx.onDeadline(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
  });
  const dec = new TextDecoder();
  const errText = new Response(child.stderr).text();
  for await (const chunk of child.stdout) {
    output += dec.decode(chunk, { stream: true });
    onOutput?.(output);
  }

  const status = await child.status;
  clearTimeout(timer);
  output += await errText;
  // Kept for diagnosis of failed runs (the cache folder is git-ignored).
  await Deno.writeTextFile(`${ROOT}/.cache/vmm/last-boot.log`, output).catch(() => {});
  return { output, code: status.code };
}

async function readLine(conn: Deno.Conn): Promise<string> {
  const one = new Uint8Array(1);
  let line = "";
  while (true) {
    const n = await conn.read(one);
    if (n === null || one[0] === 0x0a) return line;
    line += String.fromCharCode(one[0]);
  }
}

async function readAll(conn: Deno.Conn): Promise<string> {
  const buf = new Uint8Array(4096);
  let text = "";
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) return text;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
}

vmTest({
  name: "vmm boots vmlinux with 2 vCPUs, virtio-blk, virtio-net and hybrid vsock",
  deadlineMs: 300_000,
}, async (ctx) => {
  ctx.step("KVM modules and the guest assets");
  await ensureKvm();
  const k = await kernelAssets();
  const initrd = await testInitrd();
  const dir = await Deno.makeTempDir({ prefix: "vmm-test-" });
  const uds = `${dir}/vsock.sock`;
  const guestListener = Deno.listen({ transport: "unix", path: `${uds}_1025` });
  ctx.onDeadline(() => guestListener.close());
  const guestConnections = (async () => {
    const conn = await guestListener.accept();
    const got = await readAll(conn).catch(() => "");
    await conn.write(new TextEncoder().encode(`host-got:${got}`)).catch(() => {});
    try {
      conn.close();
    } catch { /* closed by the peer */ }
    return got;
  })();
  // When a check fails before the guest connected, the finally below closes
  // the listener and this accept rejects: handled here, so the failure read is
  // the check's and not an uncaught rejection that fails the whole file.
  guestConnections.catch(() => {});
  let hostEcho: Promise<string> | undefined;
  const netns = await tapInNetns("vmmtap0", "10.77.0.1/24");
  try {
    markerDisk(`${dir}/disk.img`, "VMM-DISK-MARKER-42");
    const result = await boot(ctx, [
      "--kernel",
      k.vmlinux,
      "--initrd",
      initrd,
      "--vcpus",
      "2",
      "--memory",
      "256",
      "--drive",
      `${dir}/disk.img,ro`,
      "--vsock-uds",
      uds,
      "--net",
      "vmmtap0",
      "--netns",
      netns.path,
      "--mac",
      "52:54:00:12:34:56",
      "--cmdline",
      `${CMDLINE} vmmtest.vsock=1 vmmtest.poweroff=1`,
    ], (out) => {
      if (!hostEcho && out.includes("VMM-VSOCK-LISTENING")) {
        hostEcho = (async () => {
          const conn = await Deno.connect({ transport: "unix", path: uds });
          try {
            await conn.write(new TextEncoder().encode("CONNECT 1024\n"));
            const ok = await readLine(conn);
            await conn.write(new TextEncoder().encode("echo-through-vsock"));
            await conn.closeWrite();
            return `${ok}|${await readAll(conn)}`;
          } finally {
            try {
              conn.close();
            } catch { /* closed */ }
          }
        })();
        hostEcho.catch(() => {}); // awaited below, after the console checks
      }
    });
    const out = result.output;
    assertStringIncludes(out, "VMM-GUEST-INIT");
    assertStringIncludes(out, "VMM-NPROC=2");
    assertStringIncludes(out, "VMM-DISK=VMM-DISK-MARKER-42");
    assertStringIncludes(out, "VMM-PING=ok");
    assert(hostEcho, `the guest's vsock server never started:\n${out}`);
    const [ok, echoed] = (await hostEcho).split("|");
    assert(/^OK \d+$/.test(ok), `expected "OK <port>", got ${JSON.stringify(ok)}`);
    assertEquals(echoed, "echo-through-vsock");
    assertEquals(await guestConnections, "hello-from-guest");
    assertStringIncludes(out, "VMM-VSOCK-REPLY=host-got:hello-from-guest");
    assertStringIncludes(out, "VMM-GUEST-DONE");
    assertStringIncludes(out, "vmm: guest powered off"); // through the ACPI sleep register
    assertEquals(result.code, 0, out);
  } finally {
    await netns.close();
    guestListener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

vmTest({
  name: "vmm boots a bzImage through the 64-bit boot protocol and shares a directory over 9p",
  deadlineMs: 300_000,
}, async (ctx) => {
  ctx.step("KVM modules and the guest assets");
  await ensureKvm();
  const k = await kernelAssets();
  const share = await Deno.makeTempDir({ prefix: "vmm-9p-" });
  try {
    Deno.writeTextFileSync(`${share}/from-host.txt`, "hello-from-host");
    Deno.mkdirSync(`${share}/host-dir`);
    const result = await boot(ctx, [
      "--kernel",
      k.bzImage,
      "--initrd",
      await testInitrd(),
      "--memory",
      "256",
      "--share",
      `kataShared=${share}`,
      "--cmdline",
      `${CMDLINE} vmmtest.9p=1`,
    ]);
    const out = result.output;
    assertStringIncludes(out, "VMM-GUEST-INIT");
    assertStringIncludes(out, "VMM-NPROC=1");
    assertStringIncludes(out, "VMM-9P-READ=hello-from-host");
    assertStringIncludes(out, "VMM-9P-LS=from-guest.txt,from-host.txt,host-dir,");
    assertStringIncludes(out, "VMM-9P-MKDIR=f");
    assertStringIncludes(out, "VMM-9P-RMDIR=ok");
    assertStringIncludes(out, "VMM-9P-BIG=1048576");
    assertStringIncludes(out, "VMM-9P-LINK=hello-from-host");
    assertStringIncludes(out, "VMM-9P-UMOUNT=ok");
    assertEquals(Deno.readTextFileSync(`${share}/from-guest.txt`), "written-by-guest\n");
    assertEquals(Deno.statSync(`${share}/big`).size, 1048576);
    assertEquals(Deno.readLinkSync(`${share}/link`), "from-host.txt");
    assertEquals(
      [...Deno.readDirSync(share)].map((e) => e.name).sort(),
      ["big", "from-guest.txt", "from-host.txt", "host-dir", "link"],
      "the guest's directory is gone",
    );
    assertStringIncludes(out, "VMM-GUEST-DONE");
    assertStringIncludes(out, "vmm: guest rebooted"); // through the i8042 reset line
    assertEquals(result.code, 0, out);
  } finally {
    await Deno.remove(share, { recursive: true });
  }
});

/**
 * A minimal ELF64 "kernel": one PT_LOAD segment at 16 MiB holding `ud2`, its
 * entry. The 64-bit boot protocol enters it with no IDT (limit 0), so the
 * #UD cannot be delivered (#GP, then #DF): a triple fault at the entry.
 */
function tripleFaultKernel(): Uint8Array<ArrayBuffer> {
  const LOAD = 0x100_0000n;
  const code = [0x0f, 0x0b]; // ud2
  const img = new Uint8Array(64 + 56 + code.length);
  const v = new DataView(img.buffer);
  img.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]); // ELF, 64-bit, little-endian, version 1
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, 62, true); // EM_X86_64
  v.setUint32(20, 1, true);
  v.setBigUint64(24, LOAD, true); // e_entry
  v.setBigUint64(32, 64n, true); // e_phoff
  v.setUint16(52, 64, true); // e_ehsize
  v.setUint16(54, 56, true); // e_phentsize
  v.setUint16(56, 1, true); // e_phnum
  v.setUint32(64, 1, true); // PT_LOAD
  v.setUint32(68, 5, true); // R+X
  v.setBigUint64(72, 120n, true); // p_offset
  v.setBigUint64(80, LOAD, true); // p_vaddr
  v.setBigUint64(88, LOAD, true); // p_paddr
  v.setBigUint64(96, BigInt(code.length), true); // p_filesz
  v.setBigUint64(104, BigInt(code.length), true); // p_memsz
  v.setBigUint64(112, 0x1000n, true); // p_align
  img.set(code, 120);
  return img;
}

vmTest({
  name: "vmm fails a guest that triple-faults, naming the vCPU and where it was",
  deadlineMs: 120_000,
}, async (ctx) => {
  ctx.step("KVM modules");
  await ensureKvm();
  const dir = await Deno.makeTempDir({ prefix: "vmm-tf-" });
  try {
    Deno.writeFileSync(`${dir}/ud2.elf`, tripleFaultKernel());
    const result = await boot(ctx, ["--kernel", `${dir}/ud2.elf`, "--memory", "64"]);
    assertEquals(result.code, 1, result.output);
    // Intel keeps the registers at the fault (ring 0 at the entry); AMD's SVM,
    // which the nested test host emulates, resets the vCPU first: either is named.
    assertMatch(
      result.output,
      /vmm: guest failed: vCPU 0: guest triple fault at (rip 0x100000[0-2] .*\(CPL 0\)|an unknown state: KVM has already reset the vCPU)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
