# Sourced by scripts/testhost: talks to the running test host's QEMU through
# its human monitor, a pair of FIFOs ($RUNDIR/mon.in and mon.out, which QEMU
# opens read-write, so neither side blocks). Two uses: recording where the
# vCPUs are when the heartbeat stops (vcpu_snapshot), and undoing a livelock
# of QEMU's own making without restarting the test host (tcg_flush).
# Expects RUNDIR and vm_pid (the pid of `timeout`, QEMU's parent).

# fifo_write FIFO TEXT: writes TEXT (no newline added) into one of QEMU's
# FIFOs; `timeout`: if QEMU is gone, opening the FIFO to write would wait
# forever.
fifo_write() {
  timeout 2 sh -c 'printf "%s" "$2" >"$1"' sh "$1" "$2"
}

# monitor CMD [WAIT]: runs CMD in QEMU's human monitor and prints what the
# monitor said within WAIT seconds (default 1), escape sequences removed.
monitor() {
  # Drain what the monitor said before (its greeting, earlier echoes).
  timeout 0.5 cat "$RUNDIR/mon.out" >/dev/null 2>&1
  fifo_write "$RUNDIR/mon.in" "$1
"
  # The FIFO never ends (QEMU holds it open): read for WAIT seconds.
  timeout "${2:-1}" cat "$RUNDIR/mon.out" 2>/dev/null | tr -d '\r' | sed 's/\x1b\[[0-9;]*[A-Za-z]//g'
}

# vcpu_snapshot: where the vCPUs are: QEMU's threads (state and CPU time: a
# vCPU thread spinning in R is emulation that loops, one asleep is a vCPU
# halted waiting for an interrupt), then each vCPU's registers twice, 3 s
# apart (a RIP that does not move, HLT=1, which mode: CR0 and CS tell a
# nested guest's real-mode or 32-bit code from the test host's own kernel at
# ffffffff8...).
vcpu_snapshot() {
  local i qemu_pid
  qemu_pid=$(pgrep -P "$vm_pid" | head -n 1)
  echo "testhost: QEMU's threads (pid ${qemu_pid:-?}):"
  [ -z "$qemu_pid" ] || ps -L -o tid=,stat=,time=,comm= -p "$qemu_pid" 2>/dev/null | sed 's/^/  /'
  for i in 1 2; do
    [ "$i" = 1 ] || sleep 2
    echo "testhost: vCPU registers, snapshot $i:"
    monitor "info registers -a" | grep -E '^(CPU#|[RE]IP=|CS |CR0=|EFER=)' | sed 's/^/  /'
  done
}

# tcg_flush: makes QEMU drop every block of guest code it has translated, so
# that each vCPU translates again from guest memory; prints QEMU's count of
# such flushes before and after, and the VM's run state.
#
# Why: a test host froze with both vCPUs spinning in the kernel's int3 path:
# one at asm_exc_int3's entry, one in kprobe_int3_handler's branch for "the
# breakpoint is gone from memory: step back and run the instruction again".
# That is a vCPU executing an int3 that guest memory no longer holds: a stale
# translation. The kernel patches its own text at run time (jump labels and
# static calls, text_poke_bp: int3 first, the new bytes, then the first byte),
# and in QEMU 7.2's multi-threaded TCG a write to code first drops the page's
# translations (notdirty_write) and only then stores its bytes; a second vCPU
# that translates that code in between keeps the int3 for good, as the write
# had passed the check that would have dropped the new translation. That is
# our reading of QEMU's code, which fits the registers; it was not
# reproduced at will. Nothing inside the guest can undo it; a flush does.
# QEMU 7.2's monitor has no flush command, but turning single-stepping of a
# vCPU on or off flushes everything (cpu_single_step), and its gdb stub does
# that: attached on FIFOs, it steps one instruction, then detaches.
tcg_flush() {
  local gdb="$RUNDIR/gdb" before after try reply
  [ -p "$gdb.in" ] || mkfifo "$gdb.in" "$gdb.out"
  before=$(flush_count)
  for try in 1 2 3; do
    # QEMU may have ended meanwhile (the command finished): nothing to flush.
    kill -0 "$vm_pid" 2>/dev/null || return 0
    # Opening the stub pauses the VM.
    monitor "gdbserver pipe:$gdb" >/dev/null
    # gdb remote packets `$DATA#SUM` (SUM: the byte sum of DATA, mod 256):
    # s, one step, answered by a stop (T05) that also ends single-stepping;
    # D, detach, which lets the VM run again.
    timeout 0.5 cat "$gdb.out" >/dev/null 2>&1
    fifo_write "$gdb.in" '$s#73'
    # The answer has no newline: read up to its checksum mark.
    # Opened read-write: a read-only open of a FIFO whose writer (QEMU) is
    # gone would wait forever.
    reply=
    IFS= read -r -t 3 -d '#' reply 0<>"$gdb.out" || true
    reply=$(printf '%s' "$reply" | grep -ao 'T05.*')
    fifo_write "$gdb.in" '$D#44'
    sleep 1
    monitor "gdbserver none" >/dev/null
    # Whatever state the stub left, the VM must run on.
    monitor "cont" >/dev/null
    after=$(flush_count)
    echo "  flush $try: QEMU's flush count ${before:-?} -> ${after:-?}; the one-instruction step $([ -n "$reply" ] && echo "stopped ($reply)" || echo "did not stop within 3 s")"
    [ -n "$after" ] && [ "$after" != "$before" ] && break
  done
  monitor "info status" | grep -E '^VM status' | sed 's/^/  /'
}

# flush_count: how many times QEMU has flushed its translated code.
flush_count() {
  monitor "info jit" | sed -n 's/^TB flush count *\([0-9]*\).*/\1/p'
}
