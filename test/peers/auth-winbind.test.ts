// Passwords checked by Samba's winbind, the default credential source: a private standalone Samba
// (passdb user added with smbpasswd, winbindd running; test/helpers/samba-standalone.ts) and
// witnessd --auth winbind --smb-conf. Real clients authenticate as that Samba user through
// witnessd → winbindd's privileged socket (service/auth/winbind/): python3-samba over NTLMSSP and
// SPNEGO, rpcclient, and smbtorture's rpc.witness suite at integrity and privacy; wrong passwords and
// unknown users refused with winbindd's status. The ntlm_auth helpers (the fallback) once too.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { SecurityError } from '../../service/auth/context.ts';
import { WinbindClient, type WinbindClientOptions } from '../../service/auth/winbind/client.ts';
import { winbinddSocketDir } from '../../service/auth/winbind/open.ts';
import { WinbindDirectSource } from '../../service/auth/winbind/source.ts';
import { ntlmv2Response } from '../helpers/ntlmv2.ts';
import { missingSambaPackages, startSambaStandalone, type SambaStandalone } from '../helpers/samba-standalone.ts';
import { rpcclient, runPy, startSmbd, startWitnessd, twoNodeView, type Smbd, type Witnessd } from './peers.ts';

const USER = { name: 'wuser', password: 'Win-Bind.7' };
const SMB_PORT = 4451;

describe('authentication through winbind (standalone Samba, passdb user)', { timeout: 300_000, skip: missingSambaPackages().length > 0 ? `missing ${missingSambaPackages().join(', ')}` : false }, () => {
  let samba: SambaStandalone;
  let w: Witnessd;
  let smbd: Smbd;
  let rpcUser: string;
  before(async () => {
    samba = await startSambaStandalone({ users: [USER] });
    rpcUser = `${samba.domain}\\${USER.name}%${USER.password}`;
    smbd = await startSmbd(SMB_PORT, { passdb: `tdbsam:${samba.dir}/private/passdb.tdb`, env: samba.env });
    // witnessd and its ntlm_auth helpers reach the private winbindd through samba.env.
    w = await startWitnessd({ epm: '127.0.0.1:135', view: twoNodeView(1, { shares: [{ name: 'data', resource: 'g1', node: 'n2', ips: ['127.0.0.2'] }] }), auth: ['--auth', 'winbind', '--smb-conf', samba.conf], env: samba.env });
  });
  after(async () => {
    await w?.stop();
    await smbd?.stop();
    await samba?.stop();
  });

  it('starts with winbind as its credential source, talking to winbindd over its privileged socket', () => {
    assert.match(w.logs(), /"auth":\{"source":"winbind"/);
    // interface version 32: Debian 12's Samba 4.17
    assert.match(w.logs(), new RegExp(`"path":"winbindd-direct","interfaceVersion":32,"socket":"${samba.dir}/state/winbindd_privileged/pipe".*passwords are checked by winbindd over its privileged socket`));
    assert.doesNotMatch(w.logs(), /ntlm_auth/);
  });

  for (const options of [['sign', 'ntlm'], ['seal', 'ntlm'], ['sign'], ['seal']]) {
    it(`python3-samba [${options.join(',')}] as the Samba user: registers; the identity is winbind's`, async () => {
      const r = await runPy([
        { op: 'connect', conn: 'a', port: w.port, user: USER.name, password: USER.password, domain: samba.domain, options },
        { op: 'GetInterfaceList', conn: 'a' },
        { op: 'RegisterEx', conn: 'a', version: 0x20000, net: 'FILESRV', share: 'data', ip: '127.0.0.2', client: `wb-${options.join('-')}`, flags: 0, timeout: 60 },
      ]);
      assert.ok(r.every((x) => x.ok), JSON.stringify(r));
      assert.match(w.logs(), new RegExp(`"user":"${samba.domain}\\\\\\\\${USER.name}".*client authenticated`));
    });
  }

  it('each logon was answered by winbindd directly (a debug line per logon, the account as winbind spells it)', () => {
    const direct = w.logs().split('\n').filter((l) => l.includes('password checked by winbindd directly'));
    assert.ok(direct.length >= 4, `${direct.length} direct logons`);
    assert.match(direct[0] ?? '', new RegExp(`"user":"${samba.domain}\\\\\\\\${USER.name}".*"path":"winbindd-direct"`));
  });

  it('an unknown user is refused with winbindd\'s status', async () => {
    const r = await runPy([{ op: 'connect', conn: 'a', port: w.port, user: 'nosuchuser', password: USER.password, domain: samba.domain, options: ['sign', 'ntlm'] }, { op: 'GetInterfaceList', conn: 'a' }]);
    assert.notEqual(r[1]?.ok, true, JSON.stringify(r));
    assert.match(w.logs(), /"code":"logon-failure","error":"winbind: [^"]*nosuchuser: NT_STATUS_NO_SUCH_USER/);
  });

  it('with winbindDirect false: the ntlm_auth helpers check the password (the fallback path)', async () => {
    const conf = path.join(samba.dir, 'witnessd-helpers.json');
    fs.writeFileSync(conf, JSON.stringify({ winbindDirect: false }));
    const viaHelpers = await startWitnessd({ view: twoNodeView(), auth: ['--auth', 'winbind', '--smb-conf', samba.conf, '--config', conf], env: samba.env });
    try {
      const ok = await runPy([{ op: 'connect', conn: 'a', port: viaHelpers.port, user: USER.name, password: USER.password, domain: samba.domain, options: ['sign', 'ntlm'] }, { op: 'GetInterfaceList', conn: 'a' }]);
      assert.ok(ok.every((x) => x.ok), JSON.stringify(ok));
      const bad = await runPy([{ op: 'connect', conn: 'a', port: viaHelpers.port, user: USER.name, password: 'nope', domain: samba.domain, options: ['sign', 'ntlm'] }, { op: 'GetInterfaceList', conn: 'a' }]);
      assert.notEqual(bad[1]?.ok, true);
      const logs = viaHelpers.logs();
      assert.match(logs, /"path":"ntlm_auth","helpers":2.*passwords are checked by ntlm_auth helpers/);
      assert.doesNotMatch(logs, /password checked by winbindd directly/);
      assert.match(logs, /"code":"logon-failure","error":"winbind: [^"]*wuser: /);
    } finally {
      await viaHelpers.stop();
    }
  });

  it('a wrong password is refused by winbind, and witnessd logs winbind\'s reason', async () => {
    // SPNEGO's last leg is an alter_context, which the refusal answers: the connect step fails.
    const r = await runPy([{ op: 'connect', conn: 'a', port: w.port, user: USER.name, password: 'nope', domain: samba.domain, options: ['sign'] }, { op: 'GetInterfaceList', conn: 'a' }]);
    // (python3-samba words the fault to its alter_context as a logon failure)
    assert.match(String(r[0]?.['error']), /Access Denied|logon is invalid/);
    assert.notEqual(r[1]?.ok, true);
    assert.match(w.logs(), /"code":"logon-failure","error":"winbind: [^"]*wuser: [^"]*not correct/);
  });

  it('rpcclient [sign] and [seal] as the Samba user', () => {
    for (const opt of ['sign', 'seal']) {
      const r = rpcclient(`ncacn_ip_tcp:127.0.0.1[${opt}]`, 'GetInterfaceList', 30_000, rpcUser);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /^\*\+ N2 127\.0\.0\.2 /m);
    }
  });

  // smbtorture lists the shares over SMB (smbd here, with the same passdb), then runs the witness calls over
  // DCE/RPC authenticated as the Samba user.
  for (const binding of ['sign,ntlm', 'seal']) {
    for (const t of ['GetInterfaceList', 'Register', 'RegisterEx', 'UnRegister']) {
      it(`smbtorture rpc.witness.witness.${t} [${binding}]`, () => {
        const r = spawnSync('smbtorture', [`ncacn_ip_tcp:127.0.0.1[${binding}]`, '-U', rpcUser, '--option=clientusekerberos=off', '-p', String(SMB_PORT), '--option=torture:net_name=FILESRV', `rpc.witness.witness.${t}`], { encoding: 'utf8', timeout: 120_000 });
        const out = `${r.stdout}${r.stderr}`;
        assert.match(out, new RegExp(`^success: witness\\.${t}$`, 'm'), out);
        assert.equal(r.status, 0, out);
      });
    }
  }
  // The client and source themselves against this winbindd: the key, the identity, and the budgets
  // (a hung winbindd: SIGSTOP), as witnessd meets them.
  describe('WinbindDirectSource against this winbindd', () => {
    const open = async (o: Partial<WinbindClientOptions> = {}): Promise<{ source: WinbindDirectSource; lines: string[] }> => {
      const lines: string[] = [];
      const logger = pino({ level: 'debug' }, { write: (l: string) => { lines.push(l); } });
      const dir = await winbinddSocketDir(samba.conf);
      assert.equal(dir, `${samba.dir}/wbsock`);
      const client = await WinbindClient.open({ socketDir: dir, logger, connections: 2, timeoutMs: 3000, ...o });
      return { source: new WinbindDirectSource({ client, logger, groupNames: true }), lines };
    };
    let ntHash: Buffer | null = null;
    const logon = (password?: string): ReturnType<typeof ntlmv2Response> => {
      ntHash ??= samba.ntHash(USER.name);
      return ntlmv2Response({ ntHash: password === undefined ? ntHash : Buffer.alloc(16, 7), user: USER.name.toUpperCase(), domain: samba.domain.toLowerCase() });
    };

    it('the session key is the SessionBaseKey; the identity is spelled as winbind spells it, with the primary group (named as wbinfo names it)', async () => {
      const { source } = await open();
      try {
        const r = logon();
        const v = await source.verify(r.check);
        assert.deepEqual(v.sessionBaseKey, r.sessionBaseKey);
        assert.equal(v.identity.user, USER.name); // the client wrote WUSER
        assert.equal(v.identity.domain, samba.domain); // … and witnesstest
        const primary = v.identity.groups[0] ?? '';
        assert.match(primary, /^S-1-5-21-\d+-\d+-\d+-513$/);
        // LOOKUPSID names it when winbindd can (wbinfo -s asks the same question)
        const wb = samba.wbinfo('-s', primary);
        const named = /^(.+) \d+$/.exec(wb.out.trim())?.[1] ?? null;
        assert.deepEqual(v.identity.groups, wb.code === 0 && named !== null ? [primary, named] : [primary], wb.out);
        await assert.rejects(source.verify(logon('wrong').check), (e: unknown) => e instanceof SecurityError && e.code === 'logon-failure' && /NT_STATUS_WRONG_PASSWORD/.test(e.message));
      } finally {
        await source.close();
      }
    });

    it('winbindd hung: a request fails as unavailable at its deadline, a full queue is refused at once, both logged; after it resumes, logons work again', async () => {
      const { source, lines } = await open({ connections: 1, maxQueue: 2, timeoutMs: 1500 });
      try {
        const checks = [logon(), logon(), logon(), logon()].map((r) => r.check);
        samba.pauseWinbindd();
        const t0 = Date.now();
        const stuck = checks.slice(0, 3).map((c) => source.verify(c));
        for (const p of stuck) p.catch(() => undefined); // asserted below
        const refused = source.verify(checks[3]!); // 1 at winbindd + 2 waiting: the 4th is over budget
        await assert.rejects(refused, (e: unknown) => e instanceof SecurityError && e.code === 'unavailable' && /2 requests already wait for winbindd \(at most 2\)/.test(e.message));
        assert.ok(Date.now() - t0 < 500, 'refused at once');
        for (const p of stuck) await assert.rejects(p, (e: unknown) => e instanceof SecurityError && e.code === 'unavailable');
        assert.ok(Date.now() - t0 >= 1400, 'at the deadline');
        assert.ok(lines.some((l) => /"level":40.*already wait for winbindd/.test(l)));
        assert.ok(lines.some((l) => /"level":40.*no answer within/.test(l) && /winbindd did not answer|no answer from winbindd/.test(l)));
      } finally {
        samba.resumeWinbindd();
      }
      try {
        const r = logon();
        assert.deepEqual((await source.verify(r.check)).sessionBaseKey, r.sessionBaseKey);
      } finally {
        await source.close();
      }
    });
  });
});
