// WinbindSource against a real (private, standalone) Samba: winbindd with a passdb user, reached
// through ntlm_auth. NTLMv2 responses are computed here with node:crypto from the password's NT
// hash; winbind must accept exactly the right ones and return the same SessionBaseKey. Then
// winbindd is stopped, hung and restarted under the source.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pino, type Logger } from 'pino';
import { SecurityError } from '../../service/auth/context.ts';
import { ntHash } from '../../service/auth/crypto/md4.ts';
import { WinbindSource, type WinbindSourceOptions } from '../../service/auth/winbind/ntlm-auth.ts';
import { ntlmv2Response } from '../helpers/ntlmv2.ts';
import { startSambaStandalone, type SambaStandalone } from '../helpers/samba-standalone.ts';

const ALICE = { name: 'alice', password: 'Secret123' };
const BOB = { name: 'bob', password: 'pässwörd with spaces' };

function memoryLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { logger: pino({ level: 'info' }, { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } }), lines };
}

function rejectsWith(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  return assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof SecurityError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
}

async function until(what: string, f: () => boolean, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!f()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('WinbindSource with a private standalone Samba', { timeout: 180_000 }, () => {
  let samba: SambaStandalone;
  const sources: WinbindSource[] = [];
  const source = (o: Partial<WinbindSourceOptions> = {}): WinbindSource => {
    const s = new WinbindSource({ logger: memoryLogger().logger, smbConf: samba.conf, env: samba.env, timeoutMs: 5000, ...o });
    sources.push(s);
    return s;
  };
  const alice = (o: { password?: string; user?: string; domain?: string; hashDomain?: string } = {}): ReturnType<typeof ntlmv2Response> =>
    ntlmv2Response({ ntHash: ntHash(o.password ?? ALICE.password), user: o.user ?? 'alice', domain: o.domain ?? samba.domain, ...(o.hashDomain !== undefined ? { hashDomain: o.hashDomain } : {}), workstation: 'CLIENT7' });

  before(async () => {
    samba = await startSambaStandalone({ users: [ALICE, BOB] });
  });
  after(async () => {
    await Promise.all(sources.map((s) => s.close()));
    await samba.stop();
  });

  it('the private Samba holds the NT hash the test computes', () => {
    assert.deepEqual(samba.ntHash('alice'), ntHash(ALICE.password));
    assert.deepEqual(samba.ntHash('bob'), ntHash(BOB.password));
    assert.ok(samba.winbinddStartMs < 20_000);
  });

  it('a correct NTLMv2 response verifies, with the SessionBaseKey computed from the NT hash', async () => {
    const s = await WinbindSource.start({ logger: memoryLogger().logger, smbConf: samba.conf, env: samba.env, helpers: 3 });
    sources.push(s);
    assert.ok(s.status().idle >= 1);
    await until('three helpers', () => s.status().idle === 3);
    const r = alice();
    const v = await s.verify(r.check);
    assert.deepEqual(v.sessionBaseKey, r.sessionBaseKey);
    assert.deepEqual(v.identity, { domain: samba.domain, user: 'alice', workstation: 'CLIENT7', groups: [] });
    // a non-ASCII password with spaces, the user in capitals, the domain in lower case, AV pairs in the blob
    const avPairs = Buffer.concat([Buffer.from([2, 0, 8, 0]), Buffer.from('TEST', 'utf16le'), Buffer.from([7, 0, 8, 0]), Buffer.alloc(8, 1)]);
    const b = ntlmv2Response({ ntHash: ntHash(BOB.password), user: 'BOB', domain: samba.domain.toLowerCase(), avPairs });
    assert.deepEqual((await s.verify(b.check)).sessionBaseKey, b.sessionBaseKey);
    // a client that sends no domain
    const e = ntlmv2Response({ ntHash: ntHash(ALICE.password), user: 'alice', domain: '' });
    const ve = await s.verify(e.check);
    assert.deepEqual(ve.sessionBaseKey, e.sessionBaseKey);
    assert.equal(ve.identity.domain, '');
  });

  it('wrong password and unknown user are logon-failure, with winbind\'s reason logged', async () => {
    const { logger, lines } = memoryLogger();
    const s = source({ logger });
    await rejectsWith(s.verify(alice({ password: 'wrong' }).check), 'logon-failure', /^winbind: WITNESSTEST\\alice: .*password.*not correct/);
    await rejectsWith(s.verify(alice({ user: 'mallory' }).check), 'logon-failure', /^winbind: WITNESSTEST\\mallory: The specified account does not exist/);
    // computed for another domain than the one sent
    await rejectsWith(s.verify(alice({ hashDomain: 'ELSEWHERE' }).check), 'logon-failure', /not correct/);
    // A domain winbind cannot reach (here the standalone server's workgroup, which holds no
    // accounts) gets "No logon servers" from Samba, as an unreachable DC does: unavailable.
    await rejectsWith(s.verify(alice({ domain: samba.workgroup }).check), 'unavailable', /^winbind: TESTWG\\alice: No logon servers/);
    const refused = lines.filter((l) => l['msg'] === 'winbind: logon refused');
    assert.equal(refused.length, 3);
    assert.match(String(refused[1]?.['error']), /does not exist/);
    // and the helpers are still in step: the next answer is the right one
    const r = alice();
    assert.deepEqual((await s.verify(r.check)).sessionBaseKey, r.sessionBaseKey);
  });

  it('refuses what it must not pass to ntlm_auth before asking it', async () => {
    const s = source();
    const r = alice();
    await rejectsWith(s.verify({ ...r.check, ntResponse: r.check.ntResponse.subarray(0, 24) }), 'logon-failure', /24 bytes is not an NTLMv2 response/);
    await rejectsWith(s.verify({ ...r.check, serverChallenge: Buffer.alloc(7) }), 'malformed', /server challenge of 7 bytes/);
    await rejectsWith(s.verify({ ...r.check, user: 'alice\nPassword: x' }), 'logon-failure', /control character/);
    await rejectsWith(s.verify({ ...r.check, user: 'alice\u0000admin' }), 'logon-failure', /control character/);
    await rejectsWith(s.verify({ ...r.check, domain: 'D'.repeat(300) }), 'logon-failure', /longer than 255 bytes/);
    await rejectsWith(s.verify({ ...r.check, user: '' }), 'logon-failure', /anonymous/);
    await rejectsWith(s.verify({ ...r.check, ntResponse: Buffer.alloc(20_000) }), 'malformed', /at most/);
    assert.deepEqual((await s.verify(r.check)).sessionBaseKey, r.sessionBaseKey);
  });

  it('answers many requests at once through a pool of two; a full queue refuses at once', async () => {
    const s = source({ helpers: 2 });
    const rs = Array.from({ length: 24 }, (_, i) => (i % 3 === 0 ? alice({ password: 'bad' }) : alice()));
    const results = await Promise.allSettled(rs.map((r) => s.verify(r.check)));
    results.forEach((res, i) => {
      if (i % 3 === 0) assert.equal(res.status, 'rejected');
      else assert.deepEqual(res.status === 'fulfilled' ? res.value.sessionBaseKey : null, rs[i]?.sessionBaseKey);
    });
    assert.equal(s.status().helpers, 2);

    const small = source({ helpers: 1, maxQueue: 1 });
    await until('the helper', () => small.status().idle === 1);
    const three = [alice(), alice(), alice()].map((r) => small.verify(r.check));
    const settled = await Promise.allSettled(three);
    assert.deepEqual(settled.map((x) => x.status), ['fulfilled', 'fulfilled', 'rejected']);
    assert.match(String((settled[2] as PromiseRejectedResult).reason), /already wait/);
  });

  it('winbindd stopped: unavailable within the timeout; winbindd back: the same source recovers', async () => {
    const { logger, lines } = memoryLogger();
    const s = source({ logger, timeoutMs: 3000 });
    const r = alice();
    assert.deepEqual((await s.verify(r.check)).sessionBaseKey, r.sessionBaseKey);
    const pids = s.status().pids;
    await samba.stopWinbindd();
    try {
      const t0 = Date.now();
      await rejectsWith(s.verify(alice().check), 'unavailable', /Reading winbind reply failed/);
      assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
      assert.ok(lines.some((l) => l['msg'] === 'winbind: cannot check the password now'));
    } finally {
      await samba.startWinbindd();
    }
    const again = alice();
    assert.deepEqual((await s.verify(again.check)).sessionBaseKey, again.sessionBaseKey);
    assert.deepEqual(s.status().pids, pids, 'the helpers reconnected by themselves');
  });

  it('winbindd hung: unavailable at the deadline, the stuck helper replaced; winbindd back: verifies again', async () => {
    const { logger, lines } = memoryLogger();
    const s = source({ logger, helpers: 2, timeoutMs: 1500, backoffMs: 100 });
    const r = alice();
    assert.deepEqual((await s.verify(r.check)).sessionBaseKey, r.sessionBaseKey);
    const before = s.status().pids;
    samba.pauseWinbindd();
    try {
      const t0 = Date.now();
      await rejectsWith(s.verify(alice().check), 'unavailable', /no answer within 1500 ms/);
      const took = Date.now() - t0;
      assert.ok(took >= 1400 && took < 3000, `took ${took} ms`);
      await until('a new helper', () => s.status().restarts === 1 && s.status().helpers === 2);
      assert.equal(before.filter((p) => s.status().pids.includes(p)).length, 1, 'one helper was replaced');
      assert.ok(lines.some((l) => /ntlm_auth .*no answer within 1500 ms; restarting it in 100 ms/.test(String(l['msg']))));
    } finally {
      samba.resumeWinbindd();
    }
    for (let i = 0; i < 4; i++) {
      const ok = alice();
      assert.deepEqual((await s.verify(ok.check)).sessionBaseKey, ok.sessionBaseKey);
    }
  });

  it('a helper that dies is restarted; a missing ntlm_auth is unavailable at once', async () => {
    const s = source({ helpers: 1, backoffMs: 50 });
    await until('the helper', () => s.status().helpers === 1);
    const [pid] = s.status().pids;
    process.kill(pid ?? 0, 'SIGKILL');
    await until('the restart', () => s.status().restarts === 1 && s.status().helpers === 1);
    const r = alice();
    assert.deepEqual((await s.verify(r.check)).sessionBaseKey, r.sessionBaseKey);

    const { logger, lines } = memoryLogger();
    const none = source({ logger, ntlmAuth: '/nonexistent/ntlm_auth', backoffMs: 60_000 });
    await until('the failed start', () => none.status().restarts === 2);
    await rejectsWith(none.verify(alice().check), 'unavailable', /no ntlm_auth helper is running \(helper cannot run \/nonexistent\/ntlm_auth: spawn \/nonexistent\/ntlm_auth ENOENT\)/);
    assert.ok(lines.some((l) => l['level'] === 50));

    await assert.rejects(WinbindSource.start({ logger: memoryLogger().logger, ntlmAuth: '/nonexistent/ntlm_auth' }), /^Error: winbind: cannot run \/nonexistent\/ntlm_auth: helper cannot run .*ENOENT/);

    // ntlm_auth would go on with the host's defaults without its smb.conf: refused at start
    assert.throws(() => source({ smbConf: '/nonexistent/smb.conf' }), { code: 'ENOENT' });
  });

  it('close() fails what waits and ends the helpers', async () => {
    const s = source({ helpers: 1 });
    await until('the helper', () => s.status().idle === 1);
    const pids = s.status().pids;
    samba.pauseWinbindd();
    try {
      const pending = rejectsWith(s.verify(alice().check), 'unavailable', /closed/);
      const queued = rejectsWith(s.verify(alice().check), 'unavailable', /closed/);
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual([s.status().busy, s.status().queued], [1, 1]);
      await s.close();
      await pending;
      await queued;
      await rejectsWith(s.verify(alice().check), 'unavailable', /closed/);
    } finally {
      samba.resumeWinbindd();
    }
    for (const p of pids) assert.ok(!alive(p), `helper ${p} still runs`);
  });
});
