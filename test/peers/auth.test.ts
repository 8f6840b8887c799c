// Authentication against real clients, with passwords in a local account file made by
// `witnessctl user add`: python3-samba over NTLMSSP and SPNEGO at integrity and privacy, rpcclient
// (AUTH3 leg) through the endpoint mapper, including a session that receives a notification,
// impacket, and tshark decrypting the sealed calls with the password. Each refusal is asserted:
// wrong password, unknown user, NTLMv1, anonymous, a level below policy, and PDUs tampered with
// on the way (a flipped bit, a replay, a verifier cut short) by a proxy between the client and us.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { diffViews } from '../../agent/diff.ts';
import { openStore } from '../../store/index.ts';
import { listRegistrations, type RegistrationRow } from '../../store/registrations.ts';
import { PType } from '../../service/rpc/pdu.ts';
import { ptypeOf, TamperProxy, type Tamper } from '../helpers/tamper-proxy.ts';
import { Capture, checkPcap, ip, ROOT, RpcClientSession, rpcclient, runPy, startWitnessd, twoNodeView, type PyStep, type Witnessd } from './peers.ts';
import { commitSync } from '../../store/view.ts';

const USER = 'alice';
const PASSWORD = 'Wit-Ness.42';
const DOMAIN = 'WORKGROUP';
const RPC_USER = `${DOMAIN}\\${USER}%${PASSWORD}`;

function ctl(args: string[], input?: string): { code: number; out: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'service/ctl/main.ts'), ...args], { cwd: ROOT, encoding: 'utf8', input: input ?? '', timeout: 30_000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

const creds = (o: Record<string, unknown> = {}): Record<string, unknown> => ({ user: USER, password: PASSWORD, domain: DOMAIN, ...o });

/** How many of witnessd's log lines match `re`. */
function count(w: Witnessd, re: RegExp): number {
  return w.logs().split('\n').filter((l) => re.test(l)).length;
}

/** Waits for one more matching line than `before`: warnings are rate-limited, the per-connection debug lines are not. */
async function loggedAgain(w: Witnessd, re: RegExp, before: number, timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  while (count(w, re) <= before) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`no new log line matching ${String(re)}:\n${w.logs().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function logged(w: Witnessd, re: RegExp, timeoutMs = 5000): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const line = w.logs().split('\n').find((l) => re.test(l));
    if (line !== undefined) return line;
    if (Date.now() - t0 > timeoutMs) throw new Error(`no log line matching ${String(re)}:\n${w.logs().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The store row of `client`'s registration, once witnessd's journal has written it. */
async function registration(w: Witnessd, client: string): Promise<RegistrationRow> {
  const t0 = Date.now();
  for (;;) {
    const s = openStore(w.db, { readonly: true });
    try {
      const row = listRegistrations(s, { all: true }).find((x) => x.clientName === client);
      if (row) return row;
    } finally {
      s.close();
    }
    if (Date.now() - t0 > 10_000) throw new Error(`no registration row for ${client}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('authentication: local account file, real clients', { timeout: 400_000 }, () => {
  let dir: string;
  let accounts: string;
  let w: Witnessd;
  let cap: Capture;
  let epoch = 1;
  const regEx = (client: string, o: Record<string, unknown> = {}): PyStep => ({ op: 'RegisterEx', conn: 'a', version: 0x20000, net: 'FILESRV', share: null, ip: '127.0.0.2', client, flags: 0, timeout: 120, save: 'h', ...o });

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-auth-'));
    accounts = path.join(dir, 'accounts');
    // The admin's way: witnessctl reads the password from stdin when it is not a terminal.
    const add = ctl(['user', 'add', `${DOMAIN}\\${USER}`, '--accounts', accounts], `${PASSWORD}\n`);
    assert.equal(add.code, 0, add.out);
    assert.equal(fs.statSync(accounts).mode & 0o777, 0o600);
    w = await startWitnessd({ epm: '127.0.0.1:135', view: twoNodeView(epoch), auth: ['--accounts', accounts], extra: ['--log-level', 'debug', '--force-unregister-after', '0'] });
    cap = new Capture([135, w.port], path.join(dir, 'auth.pcapng'));
    await cap.started();
  });
  after(async () => {
    await cap.stop().catch(() => '');
    await w.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const [label, options] of [['NTLMSSP [sign,ntlm]', ['sign', 'ntlm']], ['NTLMSSP [seal,ntlm]', ['seal', 'ntlm']], ['SPNEGO [sign]', ['sign']], ['SPNEGO [seal]', ['seal']]] as const) {
    it(`python3-samba ${label}: GetInterfaceList and RegisterEx; the registration carries the identity`, async () => {
      const client = `py-${options.join('-')}`;
      const r = await runPy([{ op: 'connect', conn: 'a', port: w.port, options: [...options], ...creds() }, { op: 'GetInterfaceList', conn: 'a' }, regEx(client), { op: 'UnRegisterEx', conn: 'a', handle: 'h' }]);
      assert.deepEqual(r.map((x) => x.ok), [true, true, true, true], JSON.stringify(r));
      assert.equal((r[1]?.['interfaces'] as unknown[]).length, 2);
      assert.equal((await registration(w, client)).identity, `${DOMAIN}\\${USER}`);
      const opts: readonly string[] = options;
      const authType = opts.includes('ntlm') ? 10 : 9;
      const level = opts.includes('seal') ? 6 : 5;
      await logged(w, new RegExp(`"authType":${authType},"authLevel":${level},.*"user":"WORKGROUP\\\\\\\\alice".*client authenticated`));
    });
  }

  it('witnessctl list shows the user and selects by it (--user)', async () => {
    const r = await runPy([{ op: 'connect', conn: 'a', port: w.port, options: ['sign'], ...creds() }, regEx('py-listed')]);
    assert.ok(r.every((x) => x.ok), JSON.stringify(r));
    await registration(w, 'py-listed');
    // The client has gone (its association ran down), so the row is a removed one: --all.
    const mine = ctl(['list', '--all', '--db', w.db, '--user', 'workgroup\\alice', '--client', 'py-listed']);
    assert.equal(mine.code, 0, mine.out);
    assert.match(mine.out, /py-listed .* user=WORKGROUP\\alice /);
    assert.match(ctl(['list', '--all', '--db', w.db, '--user', '^bob$']).out, /no registrations/);
  });

  it('rpcclient [sign] and [seal] through the endpoint mapper (AUTH3 leg)', () => {
    for (const opt of ['sign', 'seal']) {
      const r = rpcclient(`ncacn_ip_tcp:127.0.0.1[${opt}]`, 'GetInterfaceList', 30_000, RPC_USER);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /^\*\+ N2 127\.0\.0\.2 /m);
    }
  });

  it('an interactive rpcclient session at privacy registers and receives a notification', async () => {
    const s = new RpcClientSession('ncacn_ip_tcp:127.0.0.1[seal]', RPC_USER);
    try {
      const handle = /^(\d+:[0-9a-f-]{36})$/m;
      const h = handle.exec(await s.run('RegisterEx --net=FILESRV --ip=127.0.0.2 --client=rpcc-sealed --timeout=120', handle))?.[1];
      assert.ok(h !== undefined);
      const answer = s.run(`AsyncNotify ${h}`, /messages\n.*\n/);
      await new Promise((r) => setTimeout(r, 300)); // the call is pending before the cluster changes
      const st = openStore(w.db);
      try {
        commitSync(st, twoNodeView(++epoch, { ips: [twoNodeView().ips[0]!, { ...twoNodeView().ips[1]!, node: null, started: false }] }), diffViews);
      } finally {
        st.close();
      }
      assert.equal((await answer).trim(), 'Resource change with 1 messages\nFILESRV -> Unavailable');
      // The audit row says who the client authenticated as.
      const t0 = Date.now();
      let audit = '';
      while (!/rpcc-sealed .*delivered \(witness n1, user WORKGROUP\\alice\)/.test(audit) && Date.now() - t0 < 10_000) {
        audit = ctl(['audit', '--db', w.db]).out;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.match(audit, /rpcc-sealed .*delivered \(witness n1, user WORKGROUP\\alice\)/);
    } finally {
      await s.close();
      const st = openStore(w.db);
      commitSync(st, twoNodeView(++epoch), diffViews);
      st.close();
    }
  });

  it('impacket at packet integrity and at privacy', () => {
    for (const level of ['integrity', 'privacy']) {
      const r = spawnSync('/usr/bin/python3', [path.join(ROOT, 'test/peers/impacket_client.py'), '127.0.0.1', String(w.port), USER, PASSWORD, DOMAIN, level], { encoding: 'utf8', timeout: 60_000 });
      const out = JSON.parse(r.stdout) as { ok: boolean; stub?: string; error?: string };
      assert.equal(out.ok, true, r.stdout + r.stderr);
      // GetInterfaceList's answer: a pointer, two interfaces, ... and WERROR 0 at the end.
      assert.equal(out.stub?.slice(-8), '00000000');
      assert.ok(Buffer.from(out.stub ?? '', 'hex').includes(Buffer.from('N\x002\x00', 'latin1')));
    }
  });

  it('a sealed GetInterfaceList of 40 interfaces spans several fragments, each sealed; python3-samba reads it over NTLMSSP and SPNEGO', async () => {
    const many = twoNodeView(1, { ips: Array.from({ length: 40 }, (_, i) => ip(`127.0.1.${i + 1}`, i % 2 === 0 ? 'n1' : 'n2', `vip${i}`)) });
    const big = await startWitnessd({ view: many, auth: ['--accounts', accounts] });
    try {
      for (const options of [['seal', 'ntlm'], ['seal']]) {
        const r = await runPy([{ op: 'connect', conn: 'a', port: big.port, options, ...creds() }, { op: 'GetInterfaceList', conn: 'a' }]);
        assert.equal((r[1]?.['interfaces'] as unknown[] | undefined)?.length, 40, JSON.stringify(r[1]));
      }
    } finally {
      await big.stop();
    }
  });

  describe('refusals', () => {
    const denied = /Access Denied|ACCESS_DENIED|access_denied/i;

    it('a wrong password and an unknown user: the call is refused, the log says why', async () => {
      const wrong = await runPy([{ op: 'connect', conn: 'a', port: w.port, options: ['sign', 'ntlm'], ...creds({ password: 'not-it' }) }, { op: 'GetInterfaceList', conn: 'a' }]);
      assert.equal(wrong[1]?.ok, false);
      assert.match(String(wrong[1]?.['error']), denied);
      await logged(w, /wrong password for WORKGROUP\\\\alice.*authentication refused/);
      const unknown = await runPy([{ op: 'connect', conn: 'a', port: w.port, options: ['seal'], ...creds({ user: 'mallory' }) }, { op: 'GetInterfaceList', conn: 'a' }]);
      assert.ok(unknown.some((x) => !x.ok), JSON.stringify(unknown));
      await logged(w, /mallory.*authentication refused/);
      const rpc = rpcclient('ncacn_ip_tcp:127.0.0.1[sign]', 'GetInterfaceList', 30_000, `${DOMAIN}\\${USER}%nope`);
      assert.notEqual(rpc.code, 0);
      assert.match(rpc.out, denied);
    });

    it('an NTLMv1-only client (impacket without NTLMv2) is refused', async () => {
      const r = spawnSync('/usr/bin/python3', [path.join(ROOT, 'test/peers/impacket_client.py'), '127.0.0.1', String(w.port), USER, PASSWORD, DOMAIN, 'integrity', 'ntlmv1'], { encoding: 'utf8', timeout: 60_000 });
      const out = JSON.parse(r.stdout) as { ok: boolean; error?: string };
      assert.equal(out.ok, false);
      assert.match(out.error ?? '', /access_denied/);
      await logged(w, /"code":"policy".*NTLMv1.*authentication refused|NTLMv1.*"code":"policy"/);
    });

    it('anonymous clients (no auth, and anonymous NTLMSSP) get ACCESS_DENIED for witness methods; the endpoint mapper still answers them', async () => {
      const none = await runPy([{ op: 'connect', conn: 'a', port: w.port }, { op: 'GetInterfaceList', conn: 'a' }, regEx('anon')]);
      assert.equal(none[0]?.ok, true);
      assert.match(String(none[1]?.['error']), denied);
      assert.match(String(none[2]?.['error']), denied);
      await logged(w, /an unauthenticated call.*call refused: access denied/);
      const closedAnon = /"why":"[^"]*an anonymous context has no session key[^"]*","msg":"closing connection"/;
      const before = count(w, closedAnon);
      const anon = rpcclient('ncacn_ip_tcp:127.0.0.1[sign]', 'GetInterfaceList', 30_000);
      assert.notEqual(anon.code, 0);
      // rpcclient -U% resolves the witness endpoint through our endpoint mapper before it is refused.
      assert.match(anon.out, denied);
      await loggedAgain(w, closedAnon, before);
    });

    it('auth levels below the policy (connect, packet) are refused; privacy is required when configured', async () => {
      const connect = await runPy([{ op: 'connect', conn: 'a', port: w.port, options: ['connect', 'ntlm'], ...creds() }, { op: 'GetInterfaceList', conn: 'a' }]);
      assert.match(String(connect[1]?.['error']), denied);
      const packet = await runPy([{ op: 'connect', conn: 'a', port: w.port, options: ['packet', 'ntlm'], ...creds() }, { op: 'GetInterfaceList', conn: 'a' }]);
      assert.match(String(packet[1]?.['error']), denied);
      // One line per refusal kind and second (rate-limited): the first of the two is there.
      await logged(w, /auth level (connect|packet) is below the required integrity/);
      const strict = await startWitnessd({ view: twoNodeView(), auth: ['--accounts', accounts, '--min-auth-level', 'privacy'] });
      try {
        const signed = await runPy([{ op: 'connect', conn: 'a', port: strict.port, options: ['sign'], ...creds() }, { op: 'GetInterfaceList', conn: 'a' }]);
        assert.match(String(signed[1]?.['error']), denied);
        const sealed = await runPy([{ op: 'connect', conn: 'a', port: strict.port, options: ['seal'], ...creds() }, { op: 'GetInterfaceList', conn: 'a' }]);
        assert.equal(sealed[1]?.ok, true, JSON.stringify(sealed));
      } finally {
        await strict.stop();
      }
    });

    it('an allow-list refuses users not on it', async () => {
      const add = ctl(['user', 'add', `${DOMAIN}\\bob`, '--accounts', accounts], 'Bob-Pass.1\n');
      assert.equal(add.code, 0, add.out);
      const only = await startWitnessd({ view: twoNodeView(), auth: ['--accounts', accounts, '--allow', `${DOMAIN}\\alice`] });
      try {
        const bob = await runPy([{ op: 'connect', conn: 'a', port: only.port, options: ['sign'], ...creds({ user: 'bob', password: 'Bob-Pass.1' }) }, { op: 'GetInterfaceList', conn: 'a' }]);
        assert.match(String(bob[1]?.['error']), denied);
        const alice = await runPy([{ op: 'connect', conn: 'a', port: only.port, options: ['sign'], ...creds() }, { op: 'GetInterfaceList', conn: 'a' }]);
        assert.equal(alice[1]?.ok, true, JSON.stringify(alice));
      } finally {
        await only.stop();
      }
    });

    // Tampering: python3-samba signs or seals for real; the proxy changes the first request.
    const firstRequest = (change: (pdu: Buffer, seen: readonly Buffer[]) => Buffer[]): Tamper => {
      let done = false;
      return (pdu, _n, seen) => {
        if (done || ptypeOf(pdu) !== PType.REQUEST) return [pdu];
        done = true;
        return change(pdu, seen);
      };
    };
    const authLength = (pdu: Buffer): number => pdu.readUInt16LE(10);
    const cases: [string, string[], Tamper, RegExp][] = [
      ['one bit of the signature flipped (integrity)', ['sign', 'ntlm'], firstRequest((p) => { p[p.length - 5]! ^= 0x01; return [p]; }), /request verifier refused/],
      ['one bit of the sealed stub flipped (privacy)', ['seal'], firstRequest((p) => { p[24]! ^= 0x80; return [p]; }), /request verifier refused/],
      ['one bit of the signed header flipped (call_id)', ['sign'], firstRequest((p) => { p[12]! ^= 0x40; return [p]; }), /request verifier refused/],
      ['a verifier cut short by 4 bytes', ['sign', 'ntlm'], firstRequest((p) => {
        const q = Buffer.from(p.subarray(0, p.length - 4));
        q.writeUInt16LE(q.length, 8);
        q.writeUInt16LE(authLength(p) - 4, 10);
        return [q];
      }), /12-byte verifier where the mechanism signs with 16/],
    ];
    for (const [label, options, tamper, log] of cases) {
      it(`${label}: fault, connection closed, a log line`, async () => {
        const closed = new RegExp(`"why":"[^"]*${log.source}[^"]*","msg":"closing connection"`);
        const before = count(w, closed);
        const proxy = new TamperProxy(w.port, tamper);
        const port = await proxy.listen();
        try {
          // A fault for a call_id the client never used leaves Samba's client waiting: it gets no answer.
          const r = await runPy([{ op: 'connect', conn: 'a', port, options, ...creds() }, { op: 'GetInterfaceList', conn: 'a' }, { op: 'GetInterfaceList', conn: 'a' }], 6_000, [], true);
          assert.equal(r[0]?.ok, true);
          assert.ok(r.slice(1).every((x) => !x.ok), JSON.stringify(r));
          await loggedAgain(w, closed, before);
        } finally {
          await proxy.close();
        }
      });
    }

    it('a replayed request (an earlier signed PDU sent again) is refused', async () => {
      let requests = 0;
      const proxy = new TamperProxy(w.port, (pdu, _n, seen) => {
        if (ptypeOf(pdu) !== PType.REQUEST) return [pdu];
        requests++;
        if (requests !== 2) return [pdu];
        const first = seen.find((s) => ptypeOf(s) === PType.REQUEST);
        return first ? [first, pdu] : [pdu]; // the old PDU again, before the new one
      });
      const port = await proxy.listen();
      const closed = /"why":"request verifier refused: [^"]*sequence[^"]*","msg":"closing connection"/;
      const before = count(w, closed);
      try {
        const r = await runPy([{ op: 'connect', conn: 'a', port, options: ['sign', 'ntlm'], ...creds() }, { op: 'GetInterfaceList', conn: 'a' }, { op: 'GetInterfaceList', conn: 'a' }], 6_000, [], true);
        assert.equal(r[1]?.ok, true);
        assert.notEqual(r[2]?.ok, true, JSON.stringify(r));
        await loggedAgain(w, closed, before);
      } finally {
        await proxy.close();
      }
    });

    it('witnessd refuses to start with a group- or world-readable account file', async () => {
      const loose = path.join(dir, 'loose');
      fs.copyFileSync(accounts, loose);
      fs.chmodSync(loose, 0o644);
      await assert.rejects(startWitnessd({ view: twoNodeView(), auth: ['--accounts', loose] }), /644|readable/);
    });
  });

  it('tshark decrypts the sealed calls with the password and decodes them as WITNESS; no malformed frame, no warning', async () => {
    const file = await cap.stop();
    const opts = ['-o', `ntlmssp.nt_password:${PASSWORD}`];
    fs.copyFileSync(file, path.join(os.tmpdir(), 'pw-auth-last.pcapng'));
    // Our frames (from the witness port and the endpoint mapper): clients' own frames are the
    // clients' business (tshark cannot decode impacket's sealed empty stub, for one).
    const report = checkPcap(file, [w.port], opts, [w.port, 135]);
    assert.ok(report.witnessFrames > 20, `only ${report.witnessFrames} witness frames`);
    // Closing after a refusal resets connections whose client still sent: TCP's note, not a malformed frame.
    assert.deepEqual(report.problems.filter((p) => !/Connection reset \(RST\)$/.test(p)), []);
    // Group names inside GetInterfaceList answers can only be read from sealed frames once decrypted.
    const names = spawnSync('tshark', ['-r', file, ...opts, '-d', `tcp.port==${w.port},dcerpc`, '-Y', 'dcerpc.auth_level == 6 && witness.witness_interfaceInfo.group_name', '-T', 'fields', '-e', 'witness.witness_interfaceInfo.group_name'], { encoding: 'utf8' });
    assert.match(names.stdout, /N1,N2|N2,N1/, names.stderr);
  });
});
