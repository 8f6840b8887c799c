// The verification trailer (MS-RPCE §2.2.2.13): commands a client appends to an authenticated
// request's stub so the server can check the parts of the PDU the security provider may not
// protect (header fields, the presentation context). Samba's clients always send one on
// authenticated connections; Windows sends it when the provider cannot sign the header.

import { uuidFromWire } from './uuid.ts';
import type { SyntaxId } from './pdu.ts';

const SIGNATURE = Buffer.from([0x8a, 0xe3, 0x13, 0x71, 0x02, 0xf4, 0x36, 0x71]);

export const VerificationCommand = { BITMASK_1: 0x0001, PCONTEXT: 0x0002, HEADER2: 0x0003 } as const;
const COMMAND_END = 0x4000;
const MUST_PROCESS = 0x8000;
const COMMAND_TYPE_MASK = 0x3fff;
/** A trailer longer than this is not looked for (the three defined commands take 84 bytes). */
const MAX_TRAILER = 4096;

/** What the trailer's commands are checked against. */
export interface TrailerExpectations {
  ptype: number;
  drep: Buffer;
  callId: number;
  contextId: number;
  opnum: number;
  /** The presentation context's interface and transfer syntax. */
  abstract: SyntaxId;
  transfer: SyntaxId;
  /** Whether the connection's bind carried PFC_SUPPORT_HEADER_SIGN. */
  clientHeaderSigning: boolean;
}

/** The result: `stubEnd` is where the NDR stub ends (the trailer's start, or the stub's length). */
export interface TrailerCheck {
  stubEnd: number;
  present: boolean;
  /** null when every command matched; otherwise what did not (the request is refused). */
  mismatch: string | null;
}

/** Walks the commands from `at`; returns null when they do not run exactly to the end with an END flag. */
function readCommands(stub: Buffer, at: number): { command: number; body: Buffer }[] | null {
  const out: { command: number; body: Buffer }[] = [];
  let pos = at + SIGNATURE.length;
  for (;;) {
    if (pos + 4 > stub.length) return null;
    const command = stub.readUInt16LE(pos);
    const length = stub.readUInt16LE(pos + 2);
    if (length % 4 !== 0 || pos + 4 + length > stub.length) return null;
    out.push({ command, body: stub.subarray(pos + 4, pos + 4 + length) });
    pos += 4 + length;
    if ((command & COMMAND_END) !== 0) return pos === stub.length ? out : null;
  }
}

function syntaxAt(b: Buffer, at: number): SyntaxId {
  return { uuid: uuidFromWire(b.subarray(at, at + 16)), version: b.readUInt16LE(at + 16), minor: b.readUInt16LE(at + 18) };
}

const sameSyntax = (a: SyntaxId, b: SyntaxId): boolean => a.uuid === b.uuid && a.version === b.version && a.minor === b.minor;

/**
 * Finds the trailer at the end of a whole request's stub and checks its commands. The trailer is
 * 4-byte aligned and its commands run to the end of the stub, so the search goes backwards over
 * aligned offsets and takes the first signature whose commands parse to the end exactly: stub
 * bytes that happen to look like the signature do not.
 */
export function checkVerificationTrailer(stub: Buffer, e: TrailerExpectations): TrailerCheck {
  const lowest = Math.max(0, stub.length - MAX_TRAILER);
  for (let at = (stub.length - SIGNATURE.length - 4) & ~3; at >= lowest; at -= 4) {
    if (stub[at] !== SIGNATURE[0] || !stub.subarray(at, at + SIGNATURE.length).equals(SIGNATURE)) continue;
    const commands = readCommands(stub, at);
    if (!commands) continue;
    return { stubEnd: at, present: true, mismatch: checkCommands(commands, e) };
  }
  return { stubEnd: stub.length, present: false, mismatch: null };
}

function checkCommands(commands: { command: number; body: Buffer }[], e: TrailerExpectations): string | null {
  for (const { command, body } of commands) {
    const type = command & COMMAND_TYPE_MASK;
    switch (type) {
      case VerificationCommand.BITMASK_1: {
        if (body.length !== 4) return `BITMASK_1 of ${body.length} bytes`;
        // CLIENT_SUPPORT_HEADER_SIGNING must agree with the bind's PFC_SUPPORT_HEADER_SIGN (§2.2.2.13.2).
        const clientSigns = (body.readUInt32LE(0) & 1) !== 0;
        if (clientSigns && !e.clientHeaderSigning) return 'BITMASK_1 says the client supports header signing but its bind did not';
        break;
      }
      case VerificationCommand.PCONTEXT: {
        if (body.length !== 40) return `PCONTEXT of ${body.length} bytes`;
        if (!sameSyntax(syntaxAt(body, 0), e.abstract)) return 'PCONTEXT names another interface than the presentation context';
        if (!sameSyntax(syntaxAt(body, 20), e.transfer)) return 'PCONTEXT names another transfer syntax than the presentation context';
        break;
      }
      case VerificationCommand.HEADER2: {
        if (body.length !== 16) return `HEADER2 of ${body.length} bytes`;
        if (body.readUInt8(0) !== e.ptype) return 'HEADER2 ptype differs from the PDU header';
        if (!body.subarray(4, 8).equals(e.drep)) return 'HEADER2 drep differs from the PDU header';
        if (body.readUInt32LE(8) !== e.callId) return 'HEADER2 call_id differs from the PDU header';
        if (body.readUInt16LE(12) !== e.contextId) return 'HEADER2 p_cont_id differs from the PDU header';
        if (body.readUInt16LE(14) !== e.opnum) return 'HEADER2 opnum differs from the PDU header';
        break;
      }
      default:
        if ((command & MUST_PROCESS) !== 0) return `unknown command 0x${type.toString(16)} marked must-process`;
    }
  }
  return null;
}

/**
 * Builds a trailer (for tests and our own test client): the commands in the order given, the last marked END.
 * @testOnly the client direction of this wire format, for round-trip and golden-byte tests and the benches' clients.
 */
export function buildVerificationTrailer(commands: { command: number; body: Buffer }[]): Buffer {
  const parts: Buffer[] = [SIGNATURE];
  commands.forEach((c, i) => {
    const h = Buffer.alloc(4);
    h.writeUInt16LE(c.command | (i === commands.length - 1 ? COMMAND_END : 0), 0);
    h.writeUInt16LE(c.body.length, 2);
    parts.push(h, c.body);
  });
  return Buffer.concat(parts);
}

