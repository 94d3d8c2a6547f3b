/**
 * The guest-physical layout of an x86_64 VM (the same places Firecracker
 * uses, so Linux finds what it expects): boot structures in the first
 * megabyte, the kernel at 1 MiB or its link address, devices in the 32-bit
 * MMIO hole.
 * @module
 */

/** Boot GDT (four 8-byte descriptors). */
export const GDT_ADDR = 0x500;
/** Empty boot IDT. */
export const IDT_ADDR = 0x520;
/** PVH `hvm_start_info`, its module list and its memory map. */
export const PVH_INFO_ADDR = 0x6000;
export const PVH_MODLIST_ADDR = 0x6040;
export const PVH_MEMMAP_ADDR = 0x6080;
/** Linux boot_params ("zero page"). */
export const ZERO_PAGE_ADDR = 0x7000;
/** Initial stack pointer for the 64-bit entry. */
export const BOOT_STACK_ADDR = 0x8ff0;
/** Identity-mapping page tables (PML4, PDPT, four PD pages for 4 GiB). */
export const PML4_ADDR = 0x9000;
export const PDPT_ADDR = 0xa000;
export const PD_ADDR = 0xb000;
/** Kernel command line and its maximum length including the NUL. */
export const CMDLINE_ADDR = 0x20000;
export const CMDLINE_MAX = 2048;
/** ACPI RSDP (in the BIOS area Linux scans) with the other tables after it. */
export const ACPI_RSDP_ADDR = 0xe0000;
/** The MP table sits in the last KiB of base memory, where Linux scans. */
export const MPTABLE_ADDR = 0x9fc00;
/** End of conventional memory below the EBDA/ROM area. */
export const EBDA_START = 0x9fc00;
/** Where loaded kernels start (bzImage protected-mode code). */
export const HIMEM_START = 0x100000;
/** KVM_SET_TSS_ADDR's three pages, just below the BIOS. */
export const TSS_ADDR = 0xfffb_d000;
/** virtio-mmio device windows: one 4 KiB page each from here. */
export const MMIO_DEVICES_BASE = 0xd000_0000;
export const MMIO_DEVICE_SIZE = 0x1000;
/** First GSI for virtio-mmio devices (IOAPIC pins 5..23 are free). */
export const VIRTIO_IRQ_BASE = 5;
export const MAX_IRQ = 23;
/** Local APIC and IOAPIC addresses (architectural defaults). */
export const APIC_DEFAULT_BASE = 0xfee0_0000;
export const IOAPIC_BASE = 0xfec0_0000;
