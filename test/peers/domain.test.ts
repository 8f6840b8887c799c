// The test Active Directory domain (test/domain): a Samba AD DC and a member joined to it, both in
// network namespaces. A domain user authenticates through the member's winbindd (wbinfo, and
// ntlm_auth's ntlm-server-1 helper with an NTLMv2 response built here, as the witness will use
// it), gets a Kerberos TGT, and a service ticket for cifs/FILESRV decrypts with the exported keytab.
// Skipped only when Samba's AD packages are not installed.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { ntHash } from '../../service/auth/crypto/md4.ts';
import { domainPrerequisitesMissing, startDomain, type Domain } from '../domain/domain.ts';

const missing = domainPrerequisitesMissing();
const HOST_FILES = ['/etc/samba/smb.conf', '/etc/krb5.conf', '/etc/krb5.keytab', '/etc/hosts', '/etc/resolv.conf'];

function fingerprint(file: string): string {
  try {
    return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  } catch {
    return 'absent';
  }
}

const hmacMd5 = (key: Buffer, ...data: Buffer[]): Buffer => {
  const h = crypto.createHmac('md5', key);
  for (const d of data) h.update(d);
  return h.digest();
};

/**
 * An NTLMv2 response (MS-NLMP §3.3.2) and the session base key the DC must agree on. Its blob
 * carries the server's target info as a client echoes it: the domain and `computer`.
 */
function ntlmv2(user: string, domain: string, password: string, serverChallenge: Buffer, computer: string): { ntResponse: Buffer; sessionBaseKey: Buffer } {
  const ntowfv2 = hmacMd5(ntHash(password), Buffer.from(user.toUpperCase() + domain, 'utf16le'));
  const avPair = (id: number, value: Buffer): Buffer => {
    const h = Buffer.alloc(4);
    h.writeUInt16LE(id, 0);
    h.writeUInt16LE(value.length, 2);
    return Buffer.concat([h, value]);
  };
  const targetInfo = Buffer.concat([avPair(2, Buffer.from(domain, 'utf16le')), avPair(1, Buffer.from(computer, 'utf16le')), avPair(0, Buffer.alloc(0))]);
  const time = Buffer.alloc(8);
  time.writeBigUInt64LE((BigInt(Date.now()) + 11_644_473_600_000n) * 10_000n);
  const temp = Buffer.concat([Buffer.from([1, 1, 0, 0, 0, 0, 0, 0]), time, crypto.randomBytes(8), Buffer.alloc(4), targetInfo, Buffer.alloc(4)]);
  const ntProofStr = hmacMd5(ntowfv2, serverChallenge, temp);
  return { ntResponse: Buffer.concat([ntProofStr, temp]), sessionBaseKey: hmacMd5(ntowfv2, ntProofStr) };
}

/**
 * ntlm_auth --helper-protocol=ntlm-server-1 answers: "key: value" lines up to a "." line. After a
 * failed challenge/response Samba 4.17 writes one more "." line: skip empty answers.
 */
function parseAnswers(out: string): Record<string, string>[] {
  const answers: Record<string, string>[] = [];
  let cur: Record<string, string> = {};
  for (const line of out.split('\n')) {
    if (line === '.') {
      if (Object.keys(cur).length > 0) answers.push(cur);
      cur = {};
    } else if (line.includes(': ')) {
      const i = line.indexOf(': ');
      cur[line.slice(0, i)] = line.slice(i + 2);
    }
  }
  return answers;
}

function request(d: Domain, password: string, computer = d.memberName, challenge = crypto.randomBytes(8)): { text: string; key: Buffer } {
  const { ntResponse, sessionBaseKey } = ntlmv2(d.user, d.domain, password, challenge, computer);
  const text = [
    `Username: ${d.user}`,
    `NT-Domain: ${d.domain}`,
    `LANMAN-Challenge: ${challenge.toString('hex')}`,
    `NT-Response: ${ntResponse.toString('hex')}`,
    'Request-User-Session-Key: Yes',
    '.',
    '',
  ].join('\n');
  return { text, key: sessionBaseKey };
}

describe('test AD domain (Samba AD DC + winbind member in namespaces)', { skip: missing ?? false, timeout: 300_000 }, () => {
  let d: Domain;
  const hostBefore = new Map(HOST_FILES.map((f) => [f, fingerprint(f)]));

  before(async () => {
    d = await startDomain();
    console.log(`# domain ${d.realm} ${d.reused ? 'reused' : `up in ${d.upSeconds.toFixed(1)} s`} (${d.dir})`);
  });
  after(async () => {
    await d?.stop();
  });

  it('describes itself: realm, domain, DC address in 198.18.0.0/15, member files under its directory', () => {
    assert.equal(d.realm, 'WITNESS.TEST');
    assert.equal(d.domain, 'WITNESS');
    assert.match(d.dcAddress, /^198\.1[89]\./);
    assert.match(d.memberAddress, /^198\.1[89]\./);
    for (const f of [d.smbConf, d.krb5Conf, d.keytab, d.memberKeytab]) {
      assert.ok(f.startsWith(d.dir + '/'), f);
      assert.ok(fs.existsSync(f), f);
    }
    assert.ok(fs.existsSync(`${d.winbindSocketDir}/pipe`));
    assert.match(fs.readFileSync(d.smbConf, 'utf8'), /kerberos method = dedicated keytab/);
  });

  it('wbinfo -a authenticates the domain user (plaintext and challenge/response) and refuses a wrong password', () => {
    const ok = d.wbinfo('-a', `${d.domain}\\${d.user}%${d.password}`);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /plaintext password authentication succeeded/);
    assert.match(ok.stdout, /challenge\/response password authentication succeeded/);
    const bad = d.wbinfo('-a', `${d.domain}\\${d.user}%not-the-password`);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stdout + bad.stderr, /WRONG_PASSWORD|failed/);
    const ping = d.wbinfo('--ping-dc');
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
  });

  it('ntlm_auth ntlm-server-1 (started from the root namespace) verifies an NTLMv2 response and returns its session key', () => {
    const good = request(d, d.password);
    const wrong = request(d, 'Wrong-Password-1');
    const again = request(d, d.password);
    // The DC checks the blob's MsvAvNbComputerName against the secure channel's account (the
    // member's netbios name): a server must put that name in its CHALLENGE's target info.
    const otherName = request(d, d.password, 'OTHERHOST');
    // One helper process, four requests: as the witness keeps one running.
    const r = d.ntlmAuth(['--helper-protocol=ntlm-server-1'], good.text + wrong.text + again.text + otherName.text);
    assert.equal(r.code, 0, r.stderr);
    const answers = parseAnswers(r.stdout);
    assert.equal(answers.length, 4, r.stdout);
    assert.equal(answers[0]!['Authenticated'], 'Yes', r.stdout);
    assert.equal(answers[0]!['User-Session-Key']?.toLowerCase(), good.key.toString('hex'));
    assert.equal(answers[1]!['Authenticated'], 'No', r.stdout);
    assert.match(answers[1]!['Authentication-Error'] ?? '', /password/i);
    assert.equal(answers[2]!['Authenticated'], 'Yes', r.stdout);
    assert.equal(answers[2]!['User-Session-Key']?.toLowerCase(), again.key.toString('hex'));
    assert.equal(answers[3]!['Authenticated'], 'No', r.stdout);
    assert.match(answers[3]!['Authentication-Error'] ?? '', /logon is invalid/);
  });

  it('ntlm_auth in the root namespaces reaches the member winbindd through libnss_wrapper + SELFTEST_WINBINDD_SOCKET_DIR', (t) => {
    const env = d.wbclientPreloadEnv();
    if (env === null) {
      t.skip('libnss-wrapper not installed');
      return;
    }
    const good = request(d, d.password);
    const r = spawnSync('/usr/bin/ntlm_auth', [`--configfile=${d.smbConf}`, '--helper-protocol=ntlm-server-1'], { input: good.text, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
    const answers = parseAnswers(r.stdout);
    assert.equal(answers[0]?.['Authenticated'], 'Yes', r.stdout + r.stderr);
    assert.equal(answers[0]?.['User-Session-Key']?.toLowerCase(), good.key.toString('hex'));
    // Without it libwbclient looks in /run/samba/winbindd of the root mount namespace: no winbindd there.
    const plain = spawnSync('/usr/bin/ntlm_auth', [`--configfile=${d.smbConf}`, '--helper-protocol=ntlm-server-1'], { input: good.text, encoding: 'utf8', env: { ...process.env, LD_PRELOAD: '' }, timeout: 60_000 });
    assert.notEqual(parseAnswers(plain.stdout)[0]?.['Authenticated'], 'Yes', plain.stdout);
  });

  it('kinit gets a TGT for the domain user with KRB5_CONFIG, and a cifs/FILESRV ticket decrypts with the exported keytab', () => {
    const k = d.kinit();
    assert.equal(k.run.code, 0, k.run.stdout + k.run.stderr);
    const env = { KRB5CCNAME: k.ccache };
    const list = d.inMember(['klist'], { env });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`Default principal: ${d.user}@${d.realm.replace('.', '\\.')}`));
    assert.match(list.stdout, /krbtgt\/WITNESS\.TEST@WITNESS\.TEST/);
    const bad = d.kinit(d.user, 'Wrong-Password-1', 'bad');
    assert.notEqual(bad.run.code, 0);
    // kvno -k: the service ticket the KDC issues is decrypted with the keytab's key.
    const kvno = d.inMember(['kvno', '-k', d.keytab, ...d.spns.map((s) => `${s}@${d.realm}`)], { env });
    assert.equal(kvno.code, 0, kvno.stdout + kvno.stderr);
    for (const s of d.spns) assert.match(kvno.stdout, new RegExp(`${s.replace(/[./]/g, (c) => `\\${c}`)}@WITNESS\\.TEST: kvno = \\d+, keytab entry valid`));
    const kt = spawnSync('klist', ['-k', '-e', d.keytab], { encoding: 'utf8' });
    assert.equal(kt.status, 0, kt.stderr);
    assert.match(kt.stdout, /cifs\/FILESRV@WITNESS\.TEST \(aes256-cts-hmac-sha1-96\)/);
    assert.match(kt.stdout, /cifs\/filesrv\.witness\.test@WITNESS\.TEST \(aes256-cts-hmac-sha1-96\)/);
    assert.doesNotMatch(kt.stdout, /host\//);
  });

  it('the host is untouched, and stop() leaves no process, namespace or directory behind', async () => {
    for (const [f, before] of hostBefore) assert.equal(fingerprint(f), before, `${f} changed`);
    const ns = Object.values(d.namespaces);
    const pids = ns.flatMap((n) => spawnSync('ip', ['netns', 'pids', n], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean));
    assert.ok(pids.length > 5, 'samba and winbindd run in the namespaces');
    if (d.reused) return; // someone else's domain: left as stop() would (PWAD_KEEP) or brought down in after()
    await d.stop();
    const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    for (const n of ns) assert.doesNotMatch(list, new RegExp(`^${n}\\b`, 'm'));
    const alive = pids.filter((p) => {
      try {
        return !/^\S+ \(.*\) Z/.test(fs.readFileSync(`/proc/${p}/stat`, 'utf8'));
      } catch {
        return false;
      }
    });
    assert.deepEqual(alive, [], 'processes of the domain still alive');
    assert.equal(fs.existsSync(d.dir), false);
  });
});
