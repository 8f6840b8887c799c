// The Kerberos acceptor without a KDC: its parsers (the PAC's logon info captured from the test
// domain's DC, AP-REQ summaries, keytab listing) and MIT's GSS-API through gss.node refusing
// AP-REQs made here, each with the reason the log will give (the key is a fixture keytab made with
// ktutil from a password: cifs/FILESRV aes256 and host/filesrv.witness.test aes128, kvno 3).
// Successful exchanges need a real KDC: test/peers/auth-krb5.test.ts.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { AuthLevel, SecurityError } from '../../service/auth/context.ts';
import { KerberosAcceptor } from '../../service/auth/krb5/acceptor.ts';
import { summarizeApReq } from '../../service/auth/krb5/ap-req.ts';
import { KerberosError } from '../../service/auth/krb5/errors.ts';
import { KeytabCredentials } from '../../service/auth/krb5/keytab.ts';
import { listKeytab } from '../../service/auth/krb5/keytab-file.ts';
import { gss } from '../../service/auth/krb5/native.ts';
import { MAX_GROUPS, parse, parseLogonInfo } from '../../service/auth/krb5/pac.ts';
import { der, encodeInteger, tlv } from '../../service/auth/spnego/der.ts';
import { Oid } from '../../service/auth/spnego/tokens.ts';

const hex = (name: string): Buffer => Buffer.from(fs.readFileSync(new URL(`../fixtures/krb5/${name}.hex`, import.meta.url), 'utf8').trim(), 'hex');
const log = pino({ level: 'silent' });
const int = (n: number): Buffer => tlv(0x02, encodeInteger(n));

/** An AP-REQ for `service` (components) whose ticket claims `etype`/`kvno`; the ciphertexts are noise. */
function apReq(service: string[], realm: string, etype: number, kvno: number | null, framed = true): Buffer {
  const enc = (e: number, k: number | null, len: number): Buffer => der.sequence([der.context(0, int(e)), ...(k !== null ? [der.context(1, int(k))] : []), der.context(2, der.octetString(Buffer.alloc(len, 0x5a)))]);
  const ticket = tlv(0x61, der.sequence([
    der.context(0, int(5)),
    der.context(1, der.generalString(realm)),
    der.context(2, der.sequence([der.context(0, int(2)), der.context(1, der.sequence(service.map((s) => der.generalString(s))))])),
    der.context(3, enc(etype, kvno, 200)),
  ]));
  const ap = tlv(0x6e, der.sequence([
    der.context(0, int(5)),
    der.context(1, int(14)),
    der.context(2, der.bitString(Buffer.from([0, 0x20, 0, 0, 0]))), // mutual-required
    der.context(3, ticket),
    der.context(4, enc(etype, null, 100)),
  ]));
  return framed ? der.application0([der.oid(Oid.KERBEROS), Buffer.from([1, 0]), ap]) : ap;
}

describe('Kerberos: PAC logon info', () => {
  it('reads the account, its NetBIOS domain and group SIDs from the DC\'s PAC', () => {
    const info = parse(hex('logon-info'));
    assert.equal(info.user, 'witnessuser');
    assert.equal(info.domain, 'WITNESS');
    assert.match(info.userSid, /^S-1-5-21-\d+-\d+-\d+-1103$/);
    assert.ok(info.userSid.startsWith(info.domainSid));
    assert.deepEqual(info.groupSids, [`${info.domainSid}-513`, 'S-1-18-1']); // Domain Users; "authentication authority asserted identity"
  });

  it('every truncation and every single-byte change is read or refused (null), never thrown or over-read', () => {
    const b = hex('logon-info');
    for (let n = 0; n < b.length; n++) parseLogonInfo(b.subarray(0, n));
    for (let i = 0; i < b.length; i++) {
      const c = Buffer.from(b);
      c[i] = (c[i] ?? 0) ^ 0xff;
      const r = parseLogonInfo(c);
      if (r) assert.ok(r.groupSids.length <= 3 * MAX_GROUPS + 1);
    }
  });

  it('a forged GroupCount beyond the budget is refused before anything is read', () => {
    const b = Buffer.from(hex('logon-info'));
    b.writeUInt32LE(MAX_GROUPS + 1, 20 + 48 + 48 + 4 + 8); // GroupCount, after the times, names, counts and RIDs
    assert.throws(() => parse(b), /too many groups/);
  });
});

describe('Kerberos: AP-REQ summary and keytab listing', () => {
  it('names the ticket\'s service, etype and kvno, framed or bare; anything else is null', () => {
    const withoutDer = (t: ReturnType<typeof summarizeApReq>): unknown => (t === null ? null : { ...t, der: undefined });
    assert.deepEqual(withoutDer(summarizeApReq(apReq(['cifs', 'FILESRV'], 'WITNESS.TEST', 18, 3))), { service: 'cifs/FILESRV@WITNESS.TEST', etype: 18, etypeName: 'aes256-cts-hmac-sha1-96', kvno: 3, der: undefined });
    assert.deepEqual(withoutDer(summarizeApReq(apReq(['host', 'x.y'], 'R', 23, null, false))), { service: 'host/x.y@R', etype: 23, etypeName: 'rc4-hmac', kvno: null, der: undefined });
    // The Ticket's whole encoding ([APPLICATION 1], 0x61), which names the client once decrypted.
    const token = apReq(['cifs', 'FILESRV'], 'WITNESS.TEST', 18, 3);
    const tkt = summarizeApReq(token)?.der;
    assert.ok(tkt && tkt[0] === 0x61 && token.includes(tkt));
    assert.equal(tkt.length, tkt[1] === 0x82 ? 4 + tkt.readUInt16BE(2) : tkt[1] === 0x81 ? 3 + (tkt[2] ?? 0) : 2 + (tkt[1] ?? 0));
    assert.equal(summarizeApReq(Buffer.from('not a token')), null);
    const t = apReq(['cifs', 'FILESRV'], 'WITNESS.TEST', 18, 3);
    for (let n = 0; n < t.length; n++) summarizeApReq(t.subarray(0, n));
  });

  it('lists a keytab\'s principals, kvnos and enctypes (ktutil\'s)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-krb5-unit-'));
    try {
      const f = path.join(dir, 'k.keytab');
      fs.writeFileSync(f, hex('fixture-keytab'));
      assert.deepEqual(listKeytab(f), [
        { principal: 'cifs/FILESRV@WITNESS.TEST', kvno: 3, enctype: 'aes256-cts-hmac-sha1-96' },
        { principal: 'host/filesrv.witness.test@WITNESS.TEST', kvno: 3, enctype: 'aes128-cts-hmac-sha1-96' },
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Kerberos: MIT GSS-API refusals, each named', () => {
  let dir: string;
  let keytab: KeytabCredentials;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-krb5-unit-'));
    const f = path.join(dir, 'k.keytab');
    fs.writeFileSync(f, hex('fixture-keytab'), { mode: 0o600 });
    keytab = KeytabCredentials.open(f, log);
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const refusal = async (token: Buffer): Promise<KerberosError> => {
    const a = new KerberosAcceptor({ keytab, level: AuthLevel.INTEGRITY });
    const e = await a.step(token).then(() => null, (err: unknown) => err);
    assert.ok(e instanceof KerberosError, String(e));
    assert.equal(a.complete, false);
    // A failed context stays failed.
    await assert.rejects(a.step(token), SecurityError);
    return e;
  };

  it('a ticket for a service whose key is not in the keytab: [wrong-service], naming it', async () => {
    const e = await refusal(apReq(['cifs', 'OTHER'], 'WITNESS.TEST', 18, 3));
    assert.equal(e.reason, 'wrong-service');
    assert.equal(e.code, 'logon-failure');
    assert.match(e.message, /ticket for cifs\/OTHER@WITNESS\.TEST, aes256-cts-hmac-sha1-96, kvno 3/);
  });

  it('a kvno the keytab does not have: [no-key-for-kvno]', async () => {
    const e = await refusal(apReq(['cifs', 'FILESRV'], 'WITNESS.TEST', 18, 9));
    assert.equal(e.reason, 'no-key-for-kvno');
    assert.match(e.message, /kvno 9/);
  });

  it('the right principal and kvno but a ticket that does not decrypt: [decrypt-failed]', async () => {
    const e = await refusal(apReq(['cifs', 'FILESRV'], 'WITNESS.TEST', 18, 3));
    assert.equal(e.reason, 'decrypt-failed');
  });

  it('a refusal names the ticket\'s client only when the ticket decrypts: ticketClient is null for noise, junk and oversize', async () => {
    const t = summarizeApReq(apReq(['cifs', 'FILESRV'], 'WITNESS.TEST', 18, 3));
    assert.ok(t);
    // MIT decodes this ticket but cannot decrypt it with the keytab's key: nobody is named.
    assert.equal(gss().ticketClient(keytab.file, t.der), null);
    assert.equal(gss().ticketClient(keytab.file, Buffer.from('6100', 'hex')), null);
    assert.equal(gss().ticketClient(keytab.file, Buffer.alloc(70_000, 0x61)), null);
    assert.equal(gss().ticketClient(path.join(dir, 'absent.keytab'), t.der), null);
    const e = await refusal(apReq(['cifs', 'FILESRV'], 'WITNESS.TEST', 18, 3));
    assert.doesNotMatch(e.message, /'s ticket, valid/);
  });

  it('a token for another mechanism, or a Kerberos token that is not an AP-REQ: malformed', async () => {
    const other = await refusal(Buffer.from('60050603000000', 'hex'));
    assert.deepEqual([other.code, other.reason], ['malformed', 'not-kerberos']);
    const junk = await refusal(Buffer.from('600f06092a864886f71201020201003000', 'hex'));
    assert.deepEqual([junk.code, junk.reason], ['malformed', 'defective-token']);
  });

  it('a missing, an empty and an unreadable keytab are refused at start with the reason', () => {
    assert.throws(() => KeytabCredentials.open(path.join(dir, 'absent'), log), /the keytab \S+absent does not exist/);
    fs.writeFileSync(path.join(dir, 'empty'), '');
    assert.throws(() => KeytabCredentials.open(path.join(dir, 'empty'), log), /is empty/);
    fs.writeFileSync(path.join(dir, 'junk'), 'junk');
    assert.throws(() => KeytabCredentials.open(path.join(dir, 'junk'), log), /holds no usable key/);
  });
});
