// A domain user authenticates: an Active Directory domain from Debian's samba-ad-dc provisioned in
// network namespaces (test/domain/), a member server joined with `net ads join` and its winbindd,
// and witnessd --auth winbind --smb-conf <the member's>. python3-samba logs on as WITNESS\user;
// the NTLMv2 response goes witnessd → the member's winbindd (its privileged socket) → the DC (netlogon), and
// the session key comes back the same way. The DC checks that the blob names the member, so this
// also proves our CHALLENGE carries Samba's own names.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { domainPrerequisitesMissing, startDomain, type Domain } from '../domain/domain.ts';
import { runPy, startWitnessd, twoNodeView, type Witnessd } from './peers.ts';

describe('authentication of an Active Directory domain user through winbind', { timeout: 300_000, skip: domainPrerequisitesMissing() ?? false }, () => {
  let d: Domain;
  let w: Witnessd;
  before(async () => {
    d = await startDomain();
    const env = d.wbclientPreloadEnv();
    assert.ok(env, 'libnss-wrapper is needed to reach the member\'s winbindd from here');
    w = await startWitnessd({ view: twoNodeView(), auth: ['--auth', 'winbind', '--smb-conf', d.smbConf], env });
  });
  after(async () => {
    await w?.stop();
    await d?.stop();
  });

  it('names itself as the member in its CHALLENGE (Samba\'s netbios name and workgroup)', () => {
    assert.match(w.logs(), new RegExp(`"source":"winbind".*"computer":"${d.memberName.toUpperCase()}","domain":"${d.domain}"`));
    assert.match(w.logs(), /"path":"winbindd-direct","interfaceVersion":32,.*passwords are checked by winbindd over its privileged socket/);
  });

  for (const options of [['sign'], ['seal', 'ntlm']]) {
    it(`python3-samba [${options.join(',')}] as the domain user: registers; the identity is the domain user`, async () => {
      const r = await runPy([
        { op: 'connect', conn: 'a', port: w.port, user: d.user, password: d.password, domain: d.domain, options },
        { op: 'GetInterfaceList', conn: 'a' },
        { op: 'RegisterEx', conn: 'a', version: 0x20000, net: 'FILESRV', share: null, ip: '127.0.0.2', client: `dom-${options.join('-')}`, flags: 0, timeout: 60 },
      ]);
      assert.ok(r.every((x) => x.ok), `${JSON.stringify(r)}\n${w.logs().slice(-3000)}`);
      assert.match(w.logs(), new RegExp(`"user":"${d.domain}\\\\\\\\${d.user}".*client authenticated`, 'i'));
      assert.match(w.logs(), new RegExp(`"user":"${d.domain}\\\\\\\\${d.user}".*"path":"winbindd-direct".*password checked by winbindd directly`, 'i'));
    });
  }

  it('an unknown domain user is refused with the status winbindd got from the DC', async () => {
    const r = await runPy([{ op: 'connect', conn: 'a', port: w.port, user: 'nosuchuser', password: d.password, domain: d.domain, options: ['sign', 'ntlm'] }, { op: 'GetInterfaceList', conn: 'a' }]);
    assert.notEqual(r[1]?.ok, true);
    assert.match(w.logs(), /"code":"logon-failure","error":"winbind: [^"]*nosuchuser: NT_STATUS_(NO_SUCH_USER|LOGON_FAILURE)/);
  });

  it('an allow-list of groups: winbind tells the user\'s groups; Domain Users may register, Domain Admins only is refused', async () => {
    const env = d.wbclientPreloadEnv() ?? {};
    for (const [group, ok] of [['@Domain Users', true], [`@${d.domain}\\Domain Admins`, false]] as const) {
      const only = await startWitnessd({ view: twoNodeView(), auth: ['--auth', 'winbind', '--smb-conf', d.smbConf, '--allow', group], env });
      try {
        const r = await runPy([{ op: 'connect', conn: 'a', port: only.port, user: d.user, password: d.password, domain: d.domain, options: ['sign'] }, { op: 'GetInterfaceList', conn: 'a' }]);
        assert.equal(r[1]?.ok, ok, `${group}: ${JSON.stringify(r)}\n${only.logs().slice(-2000)}`);
        if (!ok) assert.match(only.logs(), /is not in the allow-list/);
        // the groups came with the logon (info3), their names by LOOKUPSID: no wbinfo
        assert.match(only.logs(), /"groups":[1-9]\d*,"path":"winbindd-direct".*password checked by winbindd directly/);
      } finally {
        await only.stop();
      }
    }
  });

  it('a wrong domain password is refused with the DC\'s reason in the log', async () => {
    const r = await runPy([{ op: 'connect', conn: 'a', port: w.port, user: d.user, password: 'not-the-password', domain: d.domain, options: ['sign', 'ntlm'] }, { op: 'GetInterfaceList', conn: 'a' }]);
    assert.notEqual(r[1]?.ok, true);
    assert.match(w.logs(), /"code":"logon-failure","error":"winbind: [^"]*"/);
  });
});
