/**
 * A whole built-in VM through a snapshot on real KVM: a VM built with the
 * real kernel loaded into a shared memory file is paused before it runs and
 * saved; a second VM restored from the file (mapped private) and the saved
 * machine has the same memory and, saved again, the same machine state.
 * (No guest runs: this host's KVM boots only special guest kernels; the VM
 * group runs templates end to end.)
 */
import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { testsNeeding } from "../../tests/tier.ts";
import { InvalidArgumentError } from "../../common/errors.ts";
import { kernelAssets } from "../../tests/vm/vmm_assets.ts";
import { Vm, type VmConfig } from "./vm.ts";
import type { MachineState } from "./snapshot/machine.ts";
import { openDevices } from "./device_specs.ts";

const test = testsNeeding({ paths: ["/dev/kvm"] });

test("VM snapshot: saved before it runs, restored from its memory file, saved again: the same", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vmsnap-" });
  const path = `${dir}/memory`;
  const kernel = Deno.readFileSync((await kernelAssets()).vmlinux);
  const base: VmConfig = {
    kernel,
    cmdline: "console=ttyS0",
    memoryMib: 128,
    vcpus: 2,
    console: () => {},
  };
  await Deno.mkdir(`${dir}/share`);
  // The template layout's devices (no tap, no image): 9p, a NIC slot, the hybrid vsock.
  const devices = (sock: string) =>
    openDevices([
      { kind: "9p", tag: "kataShared", dir: `${dir}/share` },
      { kind: "net-slot", mac: "02:00:00:00:7e:01" },
      { kind: "vsock", udsPath: `${dir}/${sock}`, guestCid: 3 },
    ]);
  try {
    const a = await Vm.create({
      ...base,
      devices: await devices("a.sock"),
      memoryFile: { path, mode: "shared" },
    });
    let saved: MachineState;
    let entryBytes: Uint8Array;
    try {
      await a.pause();
      saved = JSON.parse(JSON.stringify(a.saveMachine()));
      entryBytes = a.memory.read(0x1000000, 256);
    } finally {
      await a.stop();
    }
    assertEquals(saved.vcpus.map((v) => v.id), [0, 1]);
    assert(entryBytes.some((b) => b !== 0), "the kernel was loaded into the memory file");

    assertEquals(saved.devices.virtio.length, 3);
    const b = await Vm.create({
      ...base,
      devices: await devices("b.sock"),
      memoryFile: { path, mode: "private" },
      restore: saved,
    });
    try {
      assertEquals(b.memory.read(0x1000000, 256), entryBytes);
      b.memory.write(0x2000, Uint8Array.of(1, 2, 3));
      await b.pause();
      const again = b.saveMachine();
      for (const [i, v] of again.vcpus.entries()) {
        for (const k of ["regs", "sregs", "fpu", "xsave", "xcrs", "lapic", "mpState"] as const) {
          assertEquals(v[k], saved.vcpus[i][k], `vCPU ${i} ${k}`);
        }
      }
      assertEquals(again.irqchips, saved.irqchips);
      assertEquals(again.devices, saved.devices);
    } finally {
      await b.stop();
    }
    assertEquals(
      [...Deno.readFileSync(path).subarray(0x2000, 0x2003)],
      [0, 0, 0],
      "private writes",
    );

    await assertRejects(
      async () =>
        Vm.create({
          ...base,
          vcpus: 1,
          devices: await devices("c.sock"),
          memoryFile: { path, mode: "private" },
          restore: saved,
        }),
      InvalidArgumentError,
      "Saved machine has vCPUs [0,1], this VM [0]",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
