// NDR 2.0 (C706 chapter 14), little-endian, as the witness and endpoint-mapper stubs need it.
// Alignment is relative to the start of the stub. The reader is bounded: every count from the
// wire is checked against the bytes left before it is used to allocate or loop.

import { DecodeError } from '../bytes/decode-error.ts';
import { ByteReader } from '../bytes/reader.ts';
import { uuidFromWire, uuidToWire } from './uuid.ts';
import { ByteWriter } from '../bytes/writer.ts';

export const CONTEXT_HANDLE_SIZE = 20;

export class NdrReader {
  private readonly r: ByteReader;

  constructor(stub: Buffer) {
    this.r = new ByteReader(stub);
  }

  get remaining(): number {
    return this.r.remaining;
  }

  get offset(): number {
    return this.r.pos;
  }

  align(n: number): void {
    const pad = (n - (this.r.pos % n)) % n;
    this.r.skip(pad, 'alignment');
  }

  u8(what = 'u8'): number {
    return this.r.u8(what);
  }

  u16(what = 'u16'): number {
    this.align(2);
    return this.r.u16(what);
  }

  u32(what = 'u32'): number {
    this.align(4);
    return this.r.u32(what);
  }

  bytes(n: number, what = 'bytes'): Buffer {
    return this.r.bytes(n, what);
  }

  /** A unique/full pointer's referent id; 0 is NULL. */
  pointer(what = 'pointer'): number {
    return this.u32(what);
  }

  /** [string] wchar_t*: max_count, offset, actual_count, UTF-16LE units incl. the terminating NUL. */
  wideString(what = 'string'): string {
    const max = this.u32(`${what} max_count`);
    const offset = this.u32(`${what} offset`);
    const actual = this.u32(`${what} actual_count`);
    if (offset !== 0) throw new DecodeError(`${what}: offset ${offset}, expected 0`);
    if (actual > max) throw new DecodeError(`${what}: actual_count ${actual} exceeds max_count ${max}`);
    this.r.need(actual * 2, `${what} characters`);
    const raw = this.r.bytes(actual * 2, `${what} characters`);
    if (actual === 0) return '';
    if (raw.readUInt16LE(raw.length - 2) !== 0) throw new DecodeError(`${what}: not NUL-terminated`);
    return raw.subarray(0, raw.length - 2).toString('utf16le');
  }

  /** [unique, string] wchar_t*: null when the referent id is 0. */
  uniqueWideString(what = 'string'): string | null {
    return this.pointer(`${what} pointer`) === 0 ? null : this.wideString(what);
  }

  contextHandle(what = 'context handle'): Buffer {
    this.align(4);
    return Buffer.from(this.r.bytes(CONTEXT_HANDLE_SIZE, what));
  }

  uuid(what = 'uuid'): string {
    this.align(4);
    return uuidFromWire(this.r.bytes(16, what));
  }
}

export class NdrWriter {
  private readonly w = new ByteWriter(256);
  private nextReferent = 0x00020000;

  align(n: number): this {
    this.w.align(n);
    return this;
  }

  u8(v: number): this {
    this.w.u8(v);
    return this;
  }

  u16(v: number): this {
    this.w.align(2).u16(v);
    return this;
  }

  u32(v: number): this {
    this.w.align(4).u32(v);
    return this;
  }

  bytes(b: Uint8Array): this {
    this.w.bytes(b);
    return this;
  }

  /** A non-NULL unique pointer: a fresh referent id, numbered as Windows numbers them. */
  referent(): this {
    const id = this.nextReferent;
    this.nextReferent += 4;
    return this.u32(id);
  }

  nullPointer(): this {
    return this.u32(0);
  }

  wideString(s: string): this {
    const units = Buffer.from(`${s}\0`, 'utf16le');
    const n = units.length / 2;
    return this.u32(n).u32(0).u32(n).bytes(units);
  }

  uniqueWideString(s: string | null): this {
    if (s === null) return this.nullPointer();
    return this.referent().wideString(s);
  }

  contextHandle(h: Buffer): this {
    this.align(4);
    return this.bytes(h.length === CONTEXT_HANDLE_SIZE ? h : Buffer.alloc(CONTEXT_HANDLE_SIZE));
  }

  uuid(u: string): this {
    this.align(4);
    return this.bytes(uuidToWire(u));
  }

  finish(): Buffer {
    return this.w.finish();
  }
}
