/**
 * A vCPU's saved state: the saved form's checks (no KVM), and a round trip
 * through real KVM: state captured from one vCPU, through JSON, applied to a
 * vCPU of another VM, captured again, equal.
 */
import { assert, assertEquals, assertThrows } from "../../../tests/assert.ts";
import { testsNeeding } from "../../../tests/tier.ts";
import { InvalidArgumentError } from "../../../common/errors.ts";
import { closeFd } from "../../../ffi/fd.ts";
import {
  createIrqchip,
  createVcpu,
  createVm,
  emptyRegs,
  getRegs,
  getSregs,
  openKvm,
  setCpuid2,
  setRegs,
  setSregs,
  supportedCpuid,
} from "../../../ffi/kvm.ts";
import { msrIndexList, STATE_SIZES } from "../../../ffi/kvm_state.ts";
import { vcpuCpuid } from "../cpu_config.ts";
import { toBase64 } from "./blob.ts";
import { applyVcpu, captureVcpu, parseVcpuState, type VcpuState } from "./vcpu_state.ts";

function fakeState(): VcpuState {
  const b = (n: keyof typeof STATE_SIZES, fill: number) =>
    toBase64(new Uint8Array(STATE_SIZES[n]).fill(fill));
  return {
    id: 1,
    mpState: 3,
    regs: b("regs", 1),
    sregs: b("sregs", 2),
    fpu: b("fpu", 3),
    xsave: b("xsave", 4),
    xcrs: b("xcrs", 5),
    debugregs: b("debugregs", 6),
    lapic: b("lapic", 7),
    events: b("events", 8),
    msrs: [[0x10, "ffffffffffffffff"], [0xc0000080, "d01"]],
  };
}

Deno.test("vCPU saved form: round-trips through JSON; a blob of the wrong size is refused", () => {
  const s = fakeState();
  assertEquals(parseVcpuState(JSON.parse(JSON.stringify(s)), "vCPU 1"), s);
  const short = { ...s, lapic: toBase64(new Uint8Array(1000)) };
  const e = assertThrows(() => parseVcpuState(short, "vCPU 1"), InvalidArgumentError);
  assertEquals(
    e.message,
    "Saved state of vCPU 1 is malformed at lapic: must be 1024 bytes in base64",
  );
  assertThrows(
    () => parseVcpuState({ ...s, msrs: [[1, "-5"]] }, "vCPU 1"),
    InvalidArgumentError,
    "at msrs.0.1",
  );
});

const kvmTest = testsNeeding({ paths: ["/dev/kvm"] });

/** A VM with an irqchip and one vCPU of the host's CPUID; closed by the returned function. */
function vcpuOnNewVm(kvm: number): { fd: number; close: () => void } {
  const vm = createVm(kvm);
  try {
    createIrqchip(vm);
    const fd = createVcpu(vm, 0);
    setCpuid2(fd, vcpuCpuid(supportedCpuid(kvm), 0, 1));
    return {
      fd,
      close: () => {
        closeFd(fd);
        closeFd(vm);
      },
    };
  } catch (e) {
    closeFd(vm);
    throw e;
  }
}

kvmTest(
  "vCPU state: captured, through JSON, applied to another VM's vCPU, captured again: equal",
  () => {
    const kvm = openKvm();
    const a = vcpuOnNewVm(kvm);
    const b = vcpuOnNewVm(kvm);
    try {
      const msrs = msrIndexList(kvm);
      assert(msrs.length > 10, `KVM reports ${msrs.length} MSRs`);
      // A state that is not the reset state: registers, a segment, an MSR.
      const regs = { ...emptyRegs(), rax: 0x1234n, rip: 0xfff0n, rsp: 0x8000n, r15: 0xdeadn };
      setRegs(a.fd, regs);
      const sregs = getSregs(a.fd);
      sregs.ds = { ...sregs.ds, base: 0x10000n, selector: 0x1000 };
      setSregs(a.fd, sregs);
      const saved = JSON.parse(JSON.stringify(captureVcpu(0, a.fd, msrs)));
      const parsed = parseVcpuState(saved, "vCPU 0");
      assert(parsed.msrs.length > 5, `${parsed.msrs.length} MSRs read`);
      assertEquals(applyVcpu(b.fd, parsed), [], "every MSR taken back");
      assertEquals(getRegs(b.fd), regs);
      assertEquals(getSregs(b.fd).ds.base, 0x10000n);
      const again = captureVcpu(0, b.fd, msrs);
      for (const k of ["regs", "sregs", "fpu", "xsave", "xcrs", "debugregs", "lapic"] as const) {
        assertEquals(again[k], parsed[k], `${k} after the round trip`);
      }
      assertEquals(again.mpState, parsed.mpState);
      // The TSC moves on by itself; every other MSR comes back as saved.
      const TSC = 0x10;
      const noTsc = (m: VcpuState["msrs"]) => m.filter(([i]) => i !== TSC);
      assertEquals(noTsc(again.msrs), noTsc(parsed.msrs));
    } finally {
      a.close();
      b.close();
      closeFd(kvm);
    }
  },
);
