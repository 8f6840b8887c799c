// winbindd's socket protocol (service/auth/winbind/protocol.ts, connection.ts) against bytes Samba's
// own client and winbindd exchanged: test/fixtures/winbind/*.bin, recorded by capture.ts with strace
// from ntlm_auth talking to the winbindd of Debian 12's Samba 4.17 (a private standalone server):
// our requests are byte for byte what libwbclient/ntlm_auth send for the same arguments, and we read
// winbindd's answers as ntlm_auth does (the session key it printed, the error text it printed).
// Then the bounds: every length and count from the wire is checked before it is used.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { WinbindConnection, WinbindConnectionError } from '../../service/auth/winbind/connection.ts';
import {
  decodeAuthCrap,
  decodeInterfaceVersion,
  decodePrivPipeDir,
  decodeResponseHead,
  encodeAuthCrap,
  encodeLookupSid,
  encodeSimpleRequest,
  Flag,
  MAX_GROUPS,
  MAX_RESPONSE_EXTRA,
  REQUEST_SIZE,
  RESPONSE_SIZE,
  Result,
  WbFlag,
  WinbindProtocolError,
  type Response,
} from '../../service/auth/winbind/protocol.ts';

const DIR = path.join(import.meta.dirname, '../fixtures/winbind');
const bin = (name: string): Buffer => fs.readFileSync(path.join(DIR, name));
interface Facts {
  user: string;
  domain: string;
  challenge: string;
  privPipeDir: string;
  ok: { ntResponse: string; sessionBaseKey: string; ntlmAuthSaid: string[] };
  wrong: { ntResponse: string; ntlmAuthSaid: string[] };
}
const facts = JSON.parse(fs.readFileSync(path.join(DIR, 'auth-crap.json'), 'utf8')) as Facts;

/** A captured answer as the connection hands it over. */
function response(b: Buffer): Response {
  const head = decodeResponseHead(b);
  assert.equal(head.length, b.length, 'the capture holds exactly one answer');
  return { head, fixed: b.subarray(0, RESPONSE_SIZE), extra: b.subarray(RESPONSE_SIZE) };
}

/** What the captured request says about its sender (so ours can be built with the same). */
function sender(b: Buffer): { pid: number; clientName: string } {
  return { pid: b.readUInt32LE(12), clientName: b.toString('utf8', 280, b.indexOf(0, 280)) };
}

describe('winbindd protocol: golden bytes from ntlm_auth ↔ winbindd (Samba 4.17)', () => {
  it('the structures are the sizes winbindd takes and sends (interface version 32, x86_64)', () => {
    const req = bin('interface-version.request.bin');
    assert.equal(REQUEST_SIZE, 2136);
    assert.equal(req.length, REQUEST_SIZE);
    assert.equal(req.readUInt32LE(0), REQUEST_SIZE, 'length word = sizeof(struct winbindd_request)');
    assert.equal(RESPONSE_SIZE, 4008);
    assert.equal(bin('interface-version.response.bin').length, RESPONSE_SIZE);
  });

  it('INTERFACE_VERSION: our request is libwbclient\'s, byte for byte; the answer says 32', () => {
    const cap = bin('interface-version.request.bin');
    assert.deepEqual(encodeSimpleRequest({ cmd: 0, ...sender(cap), wbFlags: WbFlag.RECURSE }), cap);
    const r = response(bin('interface-version.response.bin'));
    assert.equal(r.head.result, Result.OK);
    assert.equal(decodeInterfaceVersion(r), 32);
  });

  it('PRIV_PIPE_DIR (44 in version 32): same request bytes; the answer names the state directory\'s winbindd_privileged', () => {
    const cap = bin('priv-pipe-dir.request.bin');
    assert.equal(cap.readUInt32LE(4), 44);
    assert.deepEqual(encodeSimpleRequest({ cmd: 44, ...sender(cap), wbFlags: WbFlag.RECURSE }), cap);
    const r = response(bin('priv-pipe-dir.response.bin'));
    assert.equal(r.head.extraLength, facts.privPipeDir.length + 1, 'the path and its NUL');
    assert.equal(decodePrivPipeDir(r), facts.privPipeDir);
  });

  it('PAM_AUTH_CRAP: our request (fixed part + the NT response as extra data) is ntlm_auth\'s, byte for byte', () => {
    const cap = bin('auth-crap-ok.request.bin');
    const ours = Buffer.concat(encodeAuthCrap(
      { cmd: 14, ...sender(cap), flags: Flag.PAM_USER_SESSION_KEY },
      // ntlm_auth puts its own NetBIOS name as the workstation; the 0x820 logon parameters are our default too
      { user: facts.user, domain: facts.domain, workstation: facts.domain, challenge: Buffer.from(facts.challenge, 'hex'), ntResponse: Buffer.from(facts.ok.ntResponse, 'hex') },
    ));
    assert.equal(cap.readUInt32LE(20), Flag.PAM_USER_SESSION_KEY | Flag.BIG_NTLMV2_BLOB);
    assert.equal(cap.readUInt32LE(2128), facts.ok.ntResponse.length / 2, 'extra_len = the NT response');
    assert.deepEqual(ours, cap);
  });

  it('PAM_AUTH_CRAP accepted: NT_STATUS_OK and the user session key ntlm_auth printed (= SessionBaseKey from the password)', () => {
    const a = decodeAuthCrap(response(bin('auth-crap-ok.response.bin')));
    assert.equal(a.ntStatus, 0);
    assert.equal(a.ntStatusString, 'NT_STATUS_OK');
    assert.equal(a.userSessionKey.toString('hex'), facts.ok.sessionBaseKey);
    assert.equal(`User-Session-Key: ${a.userSessionKey.toString('hex').toUpperCase()}`, facts.ok.ntlmAuthSaid[1]);
    assert.deepEqual(a.groupSids, []);
  });

  it('PAM_AUTH_CRAP refused: NT_STATUS_WRONG_PASSWORD with the words ntlm_auth printed', () => {
    const r = response(bin('auth-crap-wrong.response.bin'));
    assert.equal(r.head.result, Result.ERROR);
    const a = decodeAuthCrap(r);
    assert.equal(a.ntStatus, 0xc000006a);
    assert.equal(a.ntStatusString, 'NT_STATUS_WRONG_PASSWORD');
    assert.equal(`Authentication-Error: ${a.errorString}`, facts.wrong.ntlmAuthSaid[1]);
    assert.ok(a.authoritative);
  });

  it('LOOKUPSID puts the SID in data.sid (offset 320)', () => {
    const b = encodeLookupSid({ cmd: 21, pid: 1 }, 'S-1-5-21-1-2-3-513');
    assert.equal(b.length, REQUEST_SIZE);
    assert.equal(b.toString('utf8', 320, b.indexOf(0, 320)), 'S-1-5-21-1-2-3-513');
  });
});

/** The captured OK answer with info3 text fields and extra data put in (as INFO3_TEXT makes winbindd do). */
function withInfo3(extra: string, o: { numGroups?: number; numOtherSids?: number; domSid?: string; groupRid?: number } = {}): Response {
  const fixed = Buffer.from(bin('auth-crap-ok.response.bin'));
  const ex = Buffer.from(`${extra}\0`, 'utf8');
  fixed.writeUInt32LE(RESPONSE_SIZE + ex.length, 0);
  fixed.write(`${o.domSid ?? 'S-1-5-21-1-2-3'}\0`, 848 + 80);
  fixed.write('alice\0', 848 + 336);
  fixed.write('EXAMPLE\0', 848 + 80 + 8 * 256);
  fixed.writeUInt32LE(o.groupRid ?? 0, 848 + 60);
  fixed.writeUInt32LE(o.numGroups ?? 0, 848 + 64);
  fixed.writeUInt32LE(o.numOtherSids ?? 0, 848 + 76);
  const all = Buffer.concat([fixed, ex]);
  return { head: decodeResponseHead(all), fixed: all.subarray(0, RESPONSE_SIZE), extra: all.subarray(RESPONSE_SIZE) };
}

describe('winbindd protocol: bounds', () => {
  it('info3 text: names from their fields, groups from RIDs (domain SID + RID) and other SIDs', () => {
    const a = decodeAuthCrap(withInfo3('0x00000201:0x00000007\n0x0000047A:0x00000007\nS-1-18-1:0x00000007\n', { numGroups: 2, numOtherSids: 1 }));
    assert.equal(a.userName, 'alice');
    assert.equal(a.logonDomain, 'EXAMPLE');
    assert.deepEqual(a.groupSids, ['S-1-5-21-1-2-3-513', 'S-1-5-21-1-2-3-1146', 'S-1-18-1']);
    // the primary group (a passdb user's, whose list is empty) comes first, and only once
    assert.deepEqual(decodeAuthCrap(withInfo3('', { groupRid: 513 })).groupSids, ['S-1-5-21-1-2-3-513']);
    assert.deepEqual(decodeAuthCrap(withInfo3('0x00000201:0x00000007\n', { groupRid: 513, numGroups: 1 })).groupSids, ['S-1-5-21-1-2-3-513']);
  });

  it('info3 text: a malformed line, RIDs without a domain SID, or too many groups are refused', () => {
    assert.throws(() => decodeAuthCrap(withInfo3('0x201\n')), WinbindProtocolError);
    assert.throws(() => decodeAuthCrap(withInfo3('S-1-5-x:0x7\n')), WinbindProtocolError);
    assert.throws(() => decodeAuthCrap(withInfo3('0x00000201:0x00000007\n', { domSid: 'garbage' })), /without a domain SID/);
    assert.throws(() => decodeAuthCrap(withInfo3('', { numGroups: MAX_GROUPS + 1 })), /groups/);
    const many = Array.from({ length: MAX_GROUPS + 1 }, (_, i) => `0x${(1000 + i).toString(16)}:0x7`).join('\n');
    assert.throws(() => decodeAuthCrap(withInfo3(many)), /more than 1024 groups/);
  });

  it('a response head is checked before anything is kept: shorter than the structure, too much extra data, an unknown result', () => {
    const h = Buffer.alloc(8);
    h.writeUInt32LE(RESPONSE_SIZE - 1, 0);
    h.writeUInt32LE(Result.OK, 4);
    assert.throws(() => decodeResponseHead(h), /shorter than the 4008-byte structure/);
    h.writeUInt32LE(RESPONSE_SIZE + MAX_RESPONSE_EXTRA + 1, 0);
    assert.throws(() => decodeResponseHead(h), /extra data/);
    h.writeUInt32LE(RESPONSE_SIZE, 0);
    h.writeUInt32LE(7, 4);
    assert.throws(() => decodeResponseHead(h), /result 7/);
    assert.throws(() => decodeResponseHead(Buffer.alloc(4)), /head of 4 bytes/);
  });

  it('names that do not fit an fstring (255 bytes + NUL) or hold a NUL are refused, not cut', () => {
    const r = { user: 'u', domain: 'D', workstation: '', challenge: Buffer.alloc(8), ntResponse: Buffer.alloc(48) };
    assert.throws(() => encodeAuthCrap({ cmd: 14, pid: 1, flags: 0 }, { ...r, user: 'x'.repeat(256) }), /user name is 256 bytes/);
    assert.throws(() => encodeAuthCrap({ cmd: 14, pid: 1, flags: 0 }, { ...r, domain: 'a\0b' }), /NUL/);
    assert.throws(() => encodeAuthCrap({ cmd: 14, pid: 1, flags: 0 }, { ...r, challenge: Buffer.alloc(7) }), /7 bytes/);
    assert.throws(() => encodeAuthCrap({ cmd: 14, pid: 1, flags: 0 }, { ...r, ntResponse: Buffer.alloc(128 * 1024 + 1) }), /extra data/);
    // the workstation is only informational: cut to 255 bytes at a character boundary
    const b = encodeAuthCrap({ cmd: 14, pid: 1, flags: 0 }, { ...r, workstation: 'é'.repeat(200) })[0]!;
    assert.equal(b.toString('utf8', 320 + 1044, b.indexOf(0, 320 + 1044)), 'é'.repeat(127));
  });
});

describe('winbindd connection: framing over a unix socket', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-wbproto-'));
  after(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  /** A socket that answers each request with `reply(request)`, written in `chunk`-byte pieces. */
  async function server(name: string, reply: (req: Buffer) => Buffer, chunk = 1 << 20): Promise<{ path: string; close: () => Promise<void> }> {
    const p = path.join(dir, name);
    const s = net.createServer((c) => {
      let got = Buffer.alloc(0);
      c.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length < REQUEST_SIZE) return;
        const extra = got.readUInt32LE(2128);
        if (got.length < REQUEST_SIZE + extra) return;
        const out = reply(got);
        got = Buffer.alloc(0);
        for (let i = 0; i < out.length; i += chunk) c.write(out.subarray(i, i + chunk));
      });
    });
    await new Promise<void>((r) => s.listen(p, r));
    return { path: p, close: () => new Promise((r) => { s.close(() => { r(); }); }) };
  }

  it('an answer that arrives a byte at a time is put together; several requests in a row', async () => {
    const ok = bin('auth-crap-ok.response.bin');
    const srv = await server('bytes', () => ok, 1);
    const c = await WinbindConnection.open(srv.path, 2000);
    for (let i = 0; i < 3; i++) {
      const r = await c.request(encodeAuthCrap({ cmd: 14, pid: 1, flags: 0 }, { user: 'u', domain: 'D', workstation: '', challenge: Buffer.alloc(8), ntResponse: Buffer.alloc(300) }), 5000);
      assert.equal(decodeAuthCrap(r).userSessionKey.toString('hex'), facts.ok.sessionBaseKey);
    }
    assert.equal(c.answered, 3);
    c.close();
    await srv.close();
  });

  it('a length word beyond the budget, bytes beyond the answer, or silence close the connection with the reason', async () => {
    const huge = Buffer.from(bin('auth-crap-ok.response.bin'));
    huge.writeUInt32LE(RESPONSE_SIZE + MAX_RESPONSE_EXTRA + 1, 0);
    const more = Buffer.concat([bin('auth-crap-ok.response.bin'), Buffer.from('xx')]);
    for (const [name, reply, why] of [['huge', huge, /extra data/], ['more', more, /2 bytes beyond its answer/]] as const) {
      const srv = await server(name, () => reply);
      const c = await WinbindConnection.open(srv.path, 2000);
      await assert.rejects(c.request([encodeSimpleRequest({ cmd: 0, pid: 1 })], 5000), (e: unknown) => e instanceof WinbindConnectionError && why.test(e.message));
      assert.ok(c.closed);
      await srv.close();
    }
    const silent = await server('silent', () => Buffer.alloc(0));
    const c = await WinbindConnection.open(silent.path, 2000);
    await assert.rejects(c.request([encodeSimpleRequest({ cmd: 0, pid: 1 })], 100), /no answer within 100 ms/);
    assert.ok(c.closed);
    await silent.close();
  });
});
