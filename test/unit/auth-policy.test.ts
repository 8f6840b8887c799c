// The witness methods' access check (service/auth/policy.ts): level, anonymity, allow-list.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AuthLevel, AuthType, type Identity } from '../../service/auth/context.ts';
import { accessCheck, allowed } from '../../service/auth/policy.ts';

const alice: Identity = { domain: 'WITNESS', user: 'alice', workstation: 'W1', groups: ['S-1-5-21-1-2-3-513', 'WITNESS\\Domain Users'] };
const auth = (level: number, identity: Identity | null = alice) => ({ type: AuthType.NTLMSSP, level, identity });

describe('access check', () => {
  it('integrity by default: privacy and integrity pass; packet, call and connect are below; unauthenticated and anonymous are refused', () => {
    const check = accessCheck({ minLevel: 'integrity', allow: [] });
    assert.equal(check(auth(AuthLevel.INTEGRITY)), null);
    assert.equal(check(auth(AuthLevel.PRIVACY)), null);
    for (const l of [AuthLevel.PKT, AuthLevel.CALL, AuthLevel.CONNECT]) assert.equal(check(auth(l))?.code, 'level');
    assert.equal(check(null)?.code, 'unauthenticated');
    assert.equal(check(auth(AuthLevel.PRIVACY, { domain: '', user: '', workstation: 'X', groups: [] }))?.code, 'anonymous');
    assert.equal(check(auth(AuthLevel.PRIVACY, null))?.code, 'anonymous');
  });
  it('privacy required: integrity is below', () => {
    const check = accessCheck({ minLevel: 'privacy', allow: [] });
    assert.match(check(auth(AuthLevel.INTEGRITY))?.message ?? '', /auth level integrity is below the required privacy/);
    assert.equal(check(auth(AuthLevel.PRIVACY)), null);
  });
  it('allow-list: DOMAIN\\user, user in any domain, @group by SID, DOMAIN\\group or bare name; case-insensitive', () => {
    for (const entry of ['witness\\ALICE', 'Alice', '@s-1-5-21-1-2-3-513', '@witness\\domain users', '@Domain Users']) assert.ok(allowed(alice, [entry]), entry);
    for (const entry of ['OTHER\\alice', 'bob', '@Domain Admins', '@OTHER\\Domain Users', 'alice@witness']) assert.ok(!allowed(alice, [entry]), entry);
    const check = accessCheck({ minLevel: 'integrity', allow: ['bob', '@Domain Admins'] });
    assert.deepEqual(check(auth(AuthLevel.INTEGRITY)), { code: 'not-allowed', message: 'WITNESS\\alice is not in the allow-list' });
  });
});
