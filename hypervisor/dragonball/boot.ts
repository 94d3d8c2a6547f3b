/**
 * Puts a Linux guest into memory: the kernel (vmlinux or bzImage), the
 * command line, the initrd, the boot structures (zero page or PVH start
 * info), GDT, page tables and MP table, and returns the boot vCPU's entry
 * state.
 * @module
 */
import { InvalidArgumentError } from "../../common/errors.ts";
import type { Regs, Sregs } from "../../ffi/kvm.ts";
import type { GuestMemory } from "./memory.ts";
import {
  ACPI_RSDP_ADDR,
  CMDLINE_ADDR,
  CMDLINE_MAX,
  MPTABLE_ADDR,
  PVH_INFO_ADDR,
  PVH_MEMMAP_ADDR,
  PVH_MODLIST_ADDR,
  ZERO_PAGE_ADDR,
} from "./layout.ts";
import { isElf, KernelImageError, loadElf } from "./loader/elf.ts";
import { isBzImage, loadBzImage } from "./loader/bzimage.ts";
import { buildBootParams, e820Map, initrdAddress } from "./loader/boot_params.ts";
import { buildPvhStartInfo } from "./loader/pvh.ts";
import { buildMpTable } from "./loader/mptable.ts";
import { type AcpiMmioDevice, buildAcpiTables } from "./loader/acpi.ts";
import {
  GDT_32,
  GDT_64,
  longModeRegs,
  longModeSregs,
  pvhRegs,
  pvhSregs,
  writeGdt,
  writeIdentityPageTables,
} from "./loader/cpu_state.ts";

/** Kernel entry: the 64-bit Linux boot protocol, PVH, or PVH when available. */
export type BootProtocol = "auto" | "linux64" | "pvh";

/** Inputs of {@link loadGuest}. */
interface GuestImage {
  kernel: Uint8Array<ArrayBuffer>;
  initrd?: Uint8Array<ArrayBuffer>;
  cmdline: string;
  vcpus: number;
  protocol: BootProtocol;
  /** virtio-mmio windows, described in the ACPI DSDT. */
  mmioDevices: readonly AcpiMmioDevice[];
  /** Write ACPI tables (default true); the MP table is written either way. */
  acpi?: boolean;
}

/** The boot vCPU's entry state. */
interface BootState {
  protocol: "linux64" | "pvh";
  regs: Regs;
  sregs: (current: Sregs) => Sregs;
  /** Where the initrd went, if any. */
  initrd?: { addr: number; size: number };
}

/** Loads everything; throws {@link KernelImageError} for unusable images. */
export function loadGuest(mem: GuestMemory, g: GuestImage): BootState {
  const cmd = new TextEncoder().encode(g.cmdline);
  if (cmd.length + 1 > CMDLINE_MAX) {
    throw new InvalidArgumentError(
      `Kernel command line of ${cmd.length} bytes exceeds ${CMDLINE_MAX - 1}`,
    );
  }

  let loaded;
  let setupHeader: Uint8Array | undefined;
  let initrdMax = 0x7fff_ffff;
  if (isElf(g.kernel)) {
    loaded = loadElf(mem, g.kernel);
  } else if (isBzImage(g.kernel)) {
    const bz = loadBzImage(mem, g.kernel);
    loaded = bz;
    setupHeader = bz.setupHeader;
    if (bz.initrdAddrMax) initrdMax = bz.initrdAddrMax;
  } else {
    throw new KernelImageError("Kernel is neither an ELF vmlinux nor a bzImage");
  }

  // After the kernel, so the ELF loader still sees fresh memory.
  mem.slice(CMDLINE_ADDR, CMDLINE_MAX).fill(0);
  mem.write(CMDLINE_ADDR, cmd);

  let initrd: { addr: number; size: number } | undefined;
  if (g.initrd) {
    const addr = initrdAddress(mem, g.initrd.length, loaded.end, initrdMax);
    mem.write(addr, g.initrd);
    initrd = { addr, size: g.initrd.length };
  }

  const e820 = e820Map(mem);
  mem.write(MPTABLE_ADDR, buildMpTable(MPTABLE_ADDR, g.vcpus));
  let acpiRsdp: number | undefined;
  if (g.acpi ?? true) {
    mem.write(ACPI_RSDP_ADDR, buildAcpiTables(ACPI_RSDP_ADDR, g.vcpus, g.mmioDevices));
    acpiRsdp = ACPI_RSDP_ADDR;
  }

  const usePvh = g.protocol === "pvh" || (g.protocol === "auto" && loaded.pvhEntry !== undefined);
  if (usePvh) {
    if (loaded.pvhEntry === undefined) throw new KernelImageError("Kernel has no PVH entry point");
    const { startInfo, modlist, memmap } = buildPvhStartInfo({
      cmdlineAddr: CMDLINE_ADDR,
      memmapAddr: PVH_MEMMAP_ADDR,
      modlistAddr: PVH_MODLIST_ADDR,
      initrd,
      e820,
      acpiRsdp,
    });
    mem.write(PVH_INFO_ADDR, startInfo);
    mem.write(PVH_MODLIST_ADDR, modlist);
    mem.write(PVH_MEMMAP_ADDR, memmap);
    writeGdt(mem, GDT_32);
    return {
      protocol: "pvh",
      regs: pvhRegs(loaded.pvhEntry, PVH_INFO_ADDR),
      sregs: pvhSregs,
      initrd,
    };
  }
  mem.write(
    ZERO_PAGE_ADDR,
    buildBootParams({
      setupHeader,
      cmdlineAddr: CMDLINE_ADDR,
      cmdlineSize: cmd.length,
      initrd,
      e820,
      acpiRsdp,
    }),
  );
  writeGdt(mem, GDT_64);
  writeIdentityPageTables(mem);
  return {
    protocol: "linux64",
    regs: longModeRegs(loaded.entry64, ZERO_PAGE_ADDR),
    sregs: longModeSregs,
    initrd,
  };
}
