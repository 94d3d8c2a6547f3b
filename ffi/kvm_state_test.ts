import { assertEquals } from "../tests/assert.ts";
import { KVM } from "./kvm_structs.ts";
import { KVM_STATE, STATE_SIZES } from "./kvm_state.ts";

/** _IOC(dir, 0xAE, nr, size) as linux/ioctl.h builds it (dir: 1 write, 2 read, 3 both). */
const ioc = (dir: number, nr: number, size: number) =>
  ((dir << 30) | (size << 16) | (0xae << 8) | nr) >>> 0;

Deno.test("state ioctl numbers encode the sizes of the structs kept as blobs", () => {
  const R = 2, W = 1, RW = 3;
  assertEquals(KVM_STATE.GET_FPU, ioc(R, 0x8c, STATE_SIZES.fpu));
  assertEquals(KVM.SET_FPU, ioc(W, 0x8d, STATE_SIZES.fpu));
  assertEquals(KVM_STATE.GET_XSAVE, ioc(R, 0xa4, STATE_SIZES.xsave));
  assertEquals(KVM_STATE.SET_XSAVE, ioc(W, 0xa5, STATE_SIZES.xsave));
  assertEquals(KVM_STATE.GET_XCRS, ioc(R, 0xa6, STATE_SIZES.xcrs));
  assertEquals(KVM_STATE.SET_XCRS, ioc(W, 0xa7, STATE_SIZES.xcrs));
  assertEquals(KVM_STATE.GET_DEBUGREGS, ioc(R, 0xa1, STATE_SIZES.debugregs));
  assertEquals(KVM_STATE.SET_DEBUGREGS, ioc(W, 0xa2, STATE_SIZES.debugregs));
  assertEquals(KVM_STATE.GET_VCPU_EVENTS, ioc(R, 0x9f, STATE_SIZES.events));
  assertEquals(KVM_STATE.SET_VCPU_EVENTS, ioc(W, 0xa0, STATE_SIZES.events));
  assertEquals(KVM_STATE.GET_CLOCK, ioc(R, 0x7c, STATE_SIZES.clock));
  assertEquals(KVM_STATE.SET_CLOCK, ioc(W, 0x7b, STATE_SIZES.clock));
  assertEquals(KVM_STATE.GET_IRQCHIP, ioc(RW, 0x62, STATE_SIZES.irqchip));
  assertEquals(KVM_STATE.SET_IRQCHIP, ioc(R, 0x63, STATE_SIZES.irqchip));
  assertEquals(KVM_STATE.GET_PIT2, ioc(R, 0x9f, STATE_SIZES.pit2));
  assertEquals(KVM_STATE.SET_PIT2, ioc(W, 0xa0, STATE_SIZES.pit2));
  assertEquals(KVM_STATE.SET_MP_STATE, ioc(W, 0x99, 4));
  assertEquals(KVM_STATE.GET_MSR_INDEX_LIST, ioc(RW, 0x02, 4));
  assertEquals(KVM.GET_REGS, ioc(R, 0x81, STATE_SIZES.regs));
  assertEquals(KVM.GET_SREGS, ioc(R, 0x83, STATE_SIZES.sregs));
  assertEquals(KVM.GET_LAPIC, ioc(R, 0x8e, STATE_SIZES.lapic));
});
