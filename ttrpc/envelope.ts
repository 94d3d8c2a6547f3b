/**
 * Codec for the ttRPC envelope messages (ttrpc.Request, ttrpc.Response,
 * ttrpc.KeyValue, google.rpc.Status). They sit on every call, so they are
 * coded by hand, straight into the frame buffer that goes to the socket (one
 * allocation per frame), instead of with reflection or a generic writer;
 * `envelope_test.ts` checks them against the generated code in `gen/`.
 * @module
 */
import { HEADER_SIZE, writeHeader } from "./frame.ts";
import {
  EMPTY,
  expectWireType,
  int64Bytes,
  LENGTH_DELIMITED,
  lengthDelimitedSize,
  putBytes,
  putVarint,
  VARINT,
  varintSize,
  WireReader,
} from "./protobuf_wire.ts";
import { allocBytes } from "./slab.ts";

/** One metadata entry; a key with several values appears once per value. */
export interface KeyValue {
  key: string;
  value: string;
}

/** ttrpc.Request. */
export interface RequestEnvelope {
  service: string;
  method: string;
  payload: Uint8Array;
  /** Remaining client deadline in nanoseconds; 0 = none. */
  timeoutNano: number;
  metadata: KeyValue[];
}

/** google.protobuf.Any, kept raw. */
export interface AnyEnvelope {
  typeUrl: string;
  value: Uint8Array;
}

/** google.rpc.Status. */
export interface StatusEnvelope {
  code: number;
  message: string;
  details: AnyEnvelope[];
}

/** ttrpc.Response; a missing status means OK. */
interface ResponseEnvelope {
  status?: StatusEnvelope;
  payload: Uint8Array;
}

const encoder = new TextEncoder();

/**
 * The encoded `service` and `method` fields of a ttrpc.Request, which start
 * every request of that method: encoded once and reused.
 */
export function encodeRequestPrefix(service: string, method: string): Uint8Array {
  const s = encoder.encode(service);
  const m = encoder.encode(method);
  const out = new Uint8Array(
    (s.length ? lengthDelimitedSize(s.length) : 0) + (m.length ? lengthDelimitedSize(m.length) : 0),
  );
  let pos = 0;
  if (s.length) pos = putBytes(out, pos, 0x0a, s);
  if (m.length) putBytes(out, pos, 0x12, m);
  return out;
}

/**
 * Encodes a whole request frame (header + ttrpc.Request) into one buffer.
 * `prefix` comes from encodeRequestPrefix. Returns the frame; its data
 * length is `frame.length - HEADER_SIZE` (the caller checks the limit).
 */
export function encodeRequestFrame(
  streamId: number,
  type: number,
  prefix: Uint8Array,
  payload: Uint8Array,
  timeoutNano: number,
  metadata: readonly KeyValue[],
): Uint8Array {
  let size = prefix.length;
  if (payload.length) size += lengthDelimitedSize(payload.length);
  let timeout: Uint8Array | undefined;
  if (timeoutNano) {
    if (timeoutNano > 0) size += 1 + varintSize(Math.trunc(timeoutNano));
    else {
      timeout = int64Bytes(timeoutNano);
      size += 1 + timeout.length;
    }
  }
  let encoded: Uint8Array[] | undefined;
  if (metadata.length) {
    encoded = [];
    for (const kv of metadata) {
      const k = encoder.encode(kv.key);
      const v = encoder.encode(kv.value);
      const inner = (k.length ? lengthDelimitedSize(k.length) : 0) +
        (v.length ? lengthDelimitedSize(v.length) : 0);
      encoded.push(k, v);
      size += lengthDelimitedSize(inner);
    }
  }
  const frame = allocBytes(HEADER_SIZE + size);
  writeHeader(frame, 0, { length: size, streamId, type, flags: 0 });
  frame.set(prefix, HEADER_SIZE);
  let pos = HEADER_SIZE + prefix.length;
  if (payload.length) pos = putBytes(frame, pos, 0x1a, payload);
  if (timeoutNano) {
    frame[pos++] = 0x20;
    if (timeout) {
      frame.set(timeout, pos);
      pos += timeout.length;
    } else pos = putVarint(frame, pos, Math.trunc(timeoutNano));
  }
  if (encoded) {
    for (let i = 0; i < encoded.length; i += 2) {
      const k = encoded[i];
      const v = encoded[i + 1];
      frame[pos++] = 0x2a;
      pos = putVarint(
        frame,
        pos,
        (k.length ? lengthDelimitedSize(k.length) : 0) +
          (v.length ? lengthDelimitedSize(v.length) : 0),
      );
      if (k.length) pos = putBytes(frame, pos, 0x0a, k);
      if (v.length) pos = putBytes(frame, pos, 0x12, v);
    }
  }
  return frame;
}

/** Encodes a ttrpc.Request (without a frame header). */
export function encodeRequest(req: RequestEnvelope): Uint8Array {
  return encodeRequestFrame(
    0,
    0,
    encodeRequestPrefix(req.service, req.method),
    req.payload,
    req.timeoutNano,
    req.metadata,
  ).subarray(HEADER_SIZE);
}

/** Bytes of the google.rpc.Status message (without its field tag). */
function statusSize(status: StatusEnvelope, message: Uint8Array, details: Uint8Array[]): number {
  let size = 0;
  if (status.code) size += 1 + (status.code > 0 ? varintSize(status.code) : 10);
  if (message.length) size += lengthDelimitedSize(message.length);
  for (let i = 0; i < details.length; i += 2) {
    size += lengthDelimitedSize(anySize(details[i], details[i + 1]));
  }
  return size;
}

function anySize(typeUrl: Uint8Array, value: Uint8Array): number {
  return (typeUrl.length ? lengthDelimitedSize(typeUrl.length) : 0) +
    (value.length ? lengthDelimitedSize(value.length) : 0);
}

/**
 * Encodes a whole response frame (header + ttrpc.Response) into one buffer.
 * The status is always written (an OK status is `0a 00`), as Go does.
 */
export function encodeResponseFrame(
  streamId: number,
  type: number,
  status: StatusEnvelope | undefined,
  payload: Uint8Array,
): Uint8Array {
  let message = EMPTY;
  const details: Uint8Array[] = [];
  let statusLength = 0;
  if (status) {
    message = status.message ? encoder.encode(status.message) : EMPTY;
    for (const d of status.details) details.push(encoder.encode(d.typeUrl), d.value);
    statusLength = statusSize(status, message, details);
  }
  const size = lengthDelimitedSize(statusLength) +
    (payload.length ? lengthDelimitedSize(payload.length) : 0);
  const frame = allocBytes(HEADER_SIZE + size);
  writeHeader(frame, 0, { length: size, streamId, type, flags: 0 });
  let pos = HEADER_SIZE;
  frame[pos++] = 0x0a;
  pos = putVarint(frame, pos, statusLength);
  if (status) {
    if (status.code) {
      frame[pos++] = 0x08;
      if (status.code > 0) pos = putVarint(frame, pos, status.code);
      else {
        const code = int64Bytes(status.code);
        frame.set(code, pos);
        pos += code.length;
      }
    }
    if (message.length) pos = putBytes(frame, pos, 0x12, message);
    for (let i = 0; i < details.length; i += 2) {
      frame[pos++] = 0x1a;
      pos = putVarint(frame, pos, anySize(details[i], details[i + 1]));
      if (details[i].length) pos = putBytes(frame, pos, 0x0a, details[i]);
      if (details[i + 1].length) pos = putBytes(frame, pos, 0x12, details[i + 1]);
    }
  }
  if (payload.length) putBytes(frame, pos, 0x12, payload);
  return frame;
}

/** Encodes a ttrpc.Response (without a frame header). */
export function encodeResponse(res: ResponseEnvelope): Uint8Array {
  return encodeResponseFrame(0, 0, res.status, res.payload).subarray(HEADER_SIZE);
}

/**
 * Decodes a ttrpc.Request; unknown fields are skipped. Byte fields are views of `bytes`.
 * @throws {Error} when the bytes are not a valid ttrpc.Request
 */
export function decodeRequest(bytes: Uint8Array): RequestEnvelope {
  const r = new WireReader(bytes, 0, bytes.length);
  const req: RequestEnvelope = {
    service: "",
    method: "",
    payload: EMPTY,
    timeoutNano: 0,
    metadata: [],
  };
  while (r.pos < r.end) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wt = tag & 7;
    switch (field) {
      case 1:
        expectWireType(field, wt, LENGTH_DELIMITED, "ttrpc.Request");
        req.service = r.string();
        break;
      case 2:
        expectWireType(field, wt, LENGTH_DELIMITED, "ttrpc.Request");
        req.method = r.string();
        break;
      case 3:
        expectWireType(field, wt, LENGTH_DELIMITED, "ttrpc.Request");
        req.payload = r.bytes();
        break;
      case 4:
        expectWireType(field, wt, VARINT, "ttrpc.Request");
        req.timeoutNano = r.varint();
        break;
      case 5: {
        expectWireType(field, wt, LENGTH_DELIMITED, "ttrpc.Request");
        const start = r.lengthDelimited();
        req.metadata.push(decodeKeyValue(new WireReader(bytes, start, r.pos)));
        break;
      }
      default:
        r.skip(wt, field);
    }
  }
  return req;
}

function decodeKeyValue(r: WireReader): KeyValue {
  const kv: KeyValue = { key: "", value: "" };
  while (r.pos < r.end) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1 || field === 2) {
      expectWireType(field, wt, LENGTH_DELIMITED, "ttrpc.KeyValue");
      if (field === 1) kv.key = r.string();
      else kv.value = r.string();
    } else {
      r.skip(wt, field);
    }
  }
  return kv;
}

/**
 * Decodes a ttrpc.Response; unknown fields are skipped. Byte fields are views of `bytes`.
 * @throws {Error} when the bytes are not a valid ttrpc.Response
 */
export function decodeResponse(bytes: Uint8Array): ResponseEnvelope {
  const r = new WireReader(bytes, 0, bytes.length);
  const res: ResponseEnvelope = { payload: EMPTY };
  while (r.pos < r.end) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1) {
      expectWireType(field, wt, LENGTH_DELIMITED, "ttrpc.Response");
      const start = r.lengthDelimited();
      res.status = decodeStatus(new WireReader(bytes, start, r.pos));
    } else if (field === 2) {
      expectWireType(field, wt, LENGTH_DELIMITED, "ttrpc.Response");
      res.payload = r.bytes();
    } else {
      r.skip(wt, field);
    }
  }
  return res;
}

function decodeStatus(r: WireReader): StatusEnvelope {
  const st: StatusEnvelope = { code: 0, message: "", details: [] };
  while (r.pos < r.end) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1) {
      expectWireType(field, wt, VARINT, "google.rpc.Status");
      st.code = r.varint() | 0;
    } else if (field === 2) {
      expectWireType(field, wt, LENGTH_DELIMITED, "google.rpc.Status");
      st.message = r.string();
    } else if (field === 3) {
      expectWireType(field, wt, LENGTH_DELIMITED, "google.rpc.Status");
      const start = r.lengthDelimited();
      st.details.push(decodeAny(new WireReader(r.buf, start, r.pos)));
    } else {
      r.skip(wt, field);
    }
  }
  return st;
}

function decodeAny(r: WireReader): AnyEnvelope {
  const any: AnyEnvelope = { typeUrl: "", value: EMPTY };
  while (r.pos < r.end) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1 || field === 2) {
      expectWireType(field, wt, LENGTH_DELIMITED, "google.protobuf.Any");
      if (field === 1) any.typeUrl = r.string();
      else any.value = r.bytes();
    } else {
      r.skip(wt, field);
    }
  }
  return any;
}
