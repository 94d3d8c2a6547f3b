/**
 * The binary `containerd.task.v2.DeleteResponse` that `shim delete` prints,
 * encoded by hand (three fields) so that the delete path does not load the
 * protobuf runtime: containerd runs `delete` after every task.
 * @module
 */

function varint(out: number[], v: bigint): void {
  let x = BigInt.asUintN(64, v);
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
}

/** Encodes `DeleteResponse{pid=1, exit_status=2, exited_at=3 Timestamp{seconds=1, nanos=2}}`. */
export function encodeDeleteResponse(pid: number, exitStatus: number, exitedAt: Date): Uint8Array {
  const ms = exitedAt.getTime();
  const seconds = BigInt(Math.floor(ms / 1000));
  const nanos = (ms - Math.floor(ms / 1000) * 1000) * 1_000_000;
  const ts: number[] = [];
  if (seconds !== 0n) {
    ts.push(0x08);
    varint(ts, seconds);
  }
  if (nanos !== 0) {
    ts.push(0x10);
    varint(ts, BigInt(nanos));
  }
  const out: number[] = [];
  if (pid !== 0) {
    out.push(0x08);
    varint(out, BigInt(pid));
  }
  if (exitStatus !== 0) {
    out.push(0x10);
    varint(out, BigInt(exitStatus));
  }
  out.push(0x1a);
  varint(out, BigInt(ts.length));
  out.push(...ts);
  return new Uint8Array(out);
}
