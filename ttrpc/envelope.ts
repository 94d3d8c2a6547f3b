/**
 * Codec for the ttRPC envelope messages (ttrpc.Request, ttrpc.Response,
 * ttrpc.KeyValue, google.rpc.Status). They sit on every call, so they are
 * coded by hand with the protobuf wire primitives instead of reflection;
 * `envelope_test.ts` checks them against the generated code in `gen/`.
 * @module
 */
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

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
export interface ResponseEnvelope {
  status?: StatusEnvelope;
  payload: Uint8Array;
}

const EMPTY = new Uint8Array(0);

function expectWireType(field: number, got: WireType, want: WireType, message: string): void {
  if (got !== want) {
    throw new Error(
      `Cannot decode ${message}: field ${field} has wire type ${got}, expected ${want}`,
    );
  }
}

/** Encodes a ttrpc.Request. */
export function encodeRequest(req: RequestEnvelope): Uint8Array {
  const w = new BinaryWriter();
  if (req.service) w.tag(1, WireType.LengthDelimited).string(req.service);
  if (req.method) w.tag(2, WireType.LengthDelimited).string(req.method);
  if (req.payload.length) w.tag(3, WireType.LengthDelimited).bytes(req.payload);
  if (req.timeoutNano) w.tag(4, WireType.Varint).int64(Math.trunc(req.timeoutNano));
  for (const kv of req.metadata) {
    w.tag(5, WireType.LengthDelimited).fork();
    if (kv.key) w.tag(1, WireType.LengthDelimited).string(kv.key);
    if (kv.value) w.tag(2, WireType.LengthDelimited).string(kv.value);
    w.join();
  }
  return w.finish();
}

/**
 * Decodes a ttrpc.Request; unknown fields are skipped.
 * @throws {Error} when the bytes are not a valid ttrpc.Request
 */
export function decodeRequest(bytes: Uint8Array): RequestEnvelope {
  const r = new BinaryReader(bytes);
  const req: RequestEnvelope = {
    service: "",
    method: "",
    payload: EMPTY,
    timeoutNano: 0,
    metadata: [],
  };
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    switch (field) {
      case 1:
        expectWireType(field, wt, WireType.LengthDelimited, "ttrpc.Request");
        req.service = r.string();
        break;
      case 2:
        expectWireType(field, wt, WireType.LengthDelimited, "ttrpc.Request");
        req.method = r.string();
        break;
      case 3:
        expectWireType(field, wt, WireType.LengthDelimited, "ttrpc.Request");
        req.payload = r.bytes();
        break;
      case 4:
        expectWireType(field, wt, WireType.Varint, "ttrpc.Request");
        req.timeoutNano = Number(r.int64());
        break;
      case 5:
        expectWireType(field, wt, WireType.LengthDelimited, "ttrpc.Request");
        req.metadata.push(decodeKeyValue(r.bytes()));
        break;
      default:
        r.skip(wt, field);
    }
  }
  return req;
}

function decodeKeyValue(bytes: Uint8Array): KeyValue {
  const r = new BinaryReader(bytes);
  const kv: KeyValue = { key: "", value: "" };
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    if (field === 1 || field === 2) {
      expectWireType(field, wt, WireType.LengthDelimited, "ttrpc.KeyValue");
      if (field === 1) kv.key = r.string();
      else kv.value = r.string();
    } else {
      r.skip(wt, field);
    }
  }
  return kv;
}

/** Encodes a ttrpc.Response. The status is always written (an OK status is `0a 00`), as Go does. */
export function encodeResponse(res: ResponseEnvelope): Uint8Array {
  const w = new BinaryWriter();
  const status = res.status;
  w.tag(1, WireType.LengthDelimited).fork();
  if (status) {
    if (status.code) w.tag(1, WireType.Varint).int32(status.code);
    if (status.message) w.tag(2, WireType.LengthDelimited).string(status.message);
    for (const d of status.details) {
      w.tag(3, WireType.LengthDelimited).fork();
      if (d.typeUrl) w.tag(1, WireType.LengthDelimited).string(d.typeUrl);
      if (d.value.length) w.tag(2, WireType.LengthDelimited).bytes(d.value);
      w.join();
    }
  }
  w.join();
  if (res.payload.length) w.tag(2, WireType.LengthDelimited).bytes(res.payload);
  return w.finish();
}

/**
 * Decodes a ttrpc.Response; unknown fields are skipped.
 * @throws {Error} when the bytes are not a valid ttrpc.Response
 */
export function decodeResponse(bytes: Uint8Array): ResponseEnvelope {
  const r = new BinaryReader(bytes);
  const res: ResponseEnvelope = { payload: EMPTY };
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    if (field === 1) {
      expectWireType(field, wt, WireType.LengthDelimited, "ttrpc.Response");
      res.status = decodeStatus(r.bytes());
    } else if (field === 2) {
      expectWireType(field, wt, WireType.LengthDelimited, "ttrpc.Response");
      res.payload = r.bytes();
    } else {
      r.skip(wt, field);
    }
  }
  return res;
}

function decodeStatus(bytes: Uint8Array): StatusEnvelope {
  const r = new BinaryReader(bytes);
  const st: StatusEnvelope = { code: 0, message: "", details: [] };
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    if (field === 1) {
      expectWireType(field, wt, WireType.Varint, "google.rpc.Status");
      st.code = r.int32();
    } else if (field === 2) {
      expectWireType(field, wt, WireType.LengthDelimited, "google.rpc.Status");
      st.message = r.string();
    } else if (field === 3) {
      expectWireType(field, wt, WireType.LengthDelimited, "google.rpc.Status");
      st.details.push(decodeAny(r.bytes()));
    } else {
      r.skip(wt, field);
    }
  }
  return st;
}

function decodeAny(bytes: Uint8Array): AnyEnvelope {
  const r = new BinaryReader(bytes);
  const any: AnyEnvelope = { typeUrl: "", value: EMPTY };
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    if (field === 1 || field === 2) {
      expectWireType(field, wt, WireType.LengthDelimited, "google.protobuf.Any");
      if (field === 1) any.typeUrl = r.string();
      else any.value = r.bytes();
    } else {
      r.skip(wt, field);
    }
  }
  return any;
}
