// Kerberos for domain clients, against a real Active Directory (test/domain: Samba AD DC and a
// joined member in network namespaces). witnessd runs with the keytab `net ads keytab add` wrote
// for cifs/FILESRV and cifs/filesrv.witness.test (the member account's keys: AES256, AES128,
// RC4, kvno 1) and winbind for NTLM. The client is python3-samba (Heimdal underneath, our
// acceptor is MIT's GSS-API): a TGT from the DC and the service tickets are fetched in the member
// (only it reaches the KDC), then the client authenticates from that credential cache alone.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { domainPrerequisitesMissing, startDomain, type Domain } from '../domain/domain.ts';
import { startMemberSmbd } from '../domain/member-smbd.ts';
import { ptypeOf, TamperProxy } from '../helpers/tamper-proxy.ts';
import { openStore } from '../../store/index.ts';
import { listRegistrations } from '../../store/registrations.ts';
import { diffViews } from '../../agent/diff.ts';
import { Capture, checkPcap, runPy, startWitnessd, twoNodeView, type PyStep, type Witnessd } from './peers.ts';
import { commitSync } from '../../store/view.ts';

const CACHE = 'krb5-test';
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const TARGET = 'cifs/filesrv.witness.test';
/** The member smbd smbtorture lists shares from (loopback; auth-winbind's test smbd is on 4451). */
const SMB_PORT = 4457;

/** A copy of `keytab` with every entry's kvno set to `kvno` (8- and 32-bit fields): the same keys under another version. */
function rekvno(keytab: string, out: string, kvno: number): void {
  const b = Buffer.from(fs.readFileSync(keytab));
  let pos = 2;
  while (pos + 4 <= b.length) {
    const size = b.readInt32BE(pos);
    pos += 4;
    if (size <= 0) {
      pos += -size;
      continue;
    }
    const e = b.subarray(pos, pos + size);
    let p = 0;
    const count = e.readUInt16BE(p);
    p += 2;
    for (let i = 0; i <= count; i++) p += 2 + e.readUInt16BE(p); // realm, then each component
    p += 8; // name type, timestamp
    e.writeUInt8(kvno, p);
    p += 1 + 2;
    p += 2 + e.readUInt16BE(p); // key
    if (p + 4 <= e.length) e.writeUInt32BE(kvno, p);
    pos += size;
  }
  fs.writeFileSync(out, b, { mode: 0o600 });
}

/**
 * rpcclient with Kerberos from `ccache`, in a mount namespace of its own where filesrv.witness.test
 * is 127.0.0.1 (Samba refuses Kerberos to an IP address: the target name comes from the host
 * name). The host's /etc/hosts is not touched: a file is bind-mounted over it in that namespace.
 */
function rpcclientArgv(hosts: string, krb5Conf: string, ccache: string, args: string[]): string[] {
  return ['unshare', '-m', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hosts, 'env', `KRB5_CONFIG=${krb5Conf}`, `KRB5CCNAME=${ccache}`, 'rpcclient', '--use-kerberos=required', `--use-krb5-ccache=${ccache}`, ...args];
}

/** Waits (up to 5 s) for a log line: witnessd's output reaches the test a little after its replies. */
async function waitLog(logs: () => string, re: RegExp): Promise<void> {
  const t0 = Date.now();
  while (!re.test(logs()) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
  assert.match(logs(), re);
}

describe('Kerberos (auth type 16 and SPNEGO) for Active Directory clients', { timeout: 400_000, skip: domainPrerequisitesMissing() ?? false }, () => {
  let d: Domain;
  let w: Witnessd;
  let ccache: string;
  let keytab: string;
  let py: string[];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-krb5-'));

  let hosts: string;
  const connect = (port: number, options: string[], target = TARGET): PyStep => ({ op: 'connect', conn: 'a', port, ccache, options: [...options, `target_principal=${target}`] });
  const authLines = (logs: string, msg: string): string[] => logs.split('\n').filter((l) => l.includes(`"msg":"${msg}"`));

  before(async () => {
    d = await startDomain();
    const k = d.kinit(d.user, d.password, CACHE);
    assert.equal(k.run.code, 0, k.run.stderr);
    ccache = k.ccache;
    // rpcclient asks for host/<name>: that SPN goes on the member's account too (as an admin would
    // for a NetName), and its keys into a keytab of the test's own beside the cifs/ ones.
    const admin = `${d.adminUser}%${d.adminPassword}`;
    const spn = d.inMember(['net', 'ads', 'setspn', 'add', `host/${d.netName.toLowerCase()}.${d.dnsDomain}`, '-s', d.smbConf, '-U', admin]);
    assert.ok(spn.code === 0 || /already/i.test(spn.stdout + spn.stderr), `setspn: ${spn.stdout}${spn.stderr}`);
    keytab = path.join(tmp, 'witness.keytab');
    fs.copyFileSync(d.keytab, keytab);
    const kt = d.inMember(['net', 'ads', 'keytab', 'add', `host/${d.netName.toLowerCase()}.${d.dnsDomain}`, '-s', d.smbConf, '-P', `--option=dedicated keytab file=FILE:${keytab}`]);
    assert.equal(kt.code, 0, `net ads keytab add: ${kt.stdout}${kt.stderr}`);
    hosts = path.join(tmp, 'hosts');
    fs.writeFileSync(hosts, `127.0.0.1 localhost\n127.0.0.1 ${d.netName.toLowerCase()}.${d.dnsDomain} ${d.netName.toLowerCase()}\n`);
    // Service tickets into the cache: ours, and one for another service (the member's own host/).
    for (const spn of [TARGET, `host/${d.netName.toLowerCase()}.${d.dnsDomain}`, `host/${d.memberName.toLowerCase()}.${d.dnsDomain}`]) {
      const r = d.inMember(['kvno', spn], { env: d.krbEnv(CACHE) });
      assert.equal(r.code, 0, `kvno ${spn}: ${r.stderr}`);
    }
    py = ['env', `KRB5_CONFIG=${d.krb5Conf}`];
    const env = d.wbclientPreloadEnv();
    assert.ok(env, 'libnss-wrapper is needed to reach the member\'s winbindd from here');
    // rpcclient finds the witness through the endpoint mapper on 135 (it has no port option).
    w = await startWitnessd({ view: twoNodeView(), epm: '127.0.0.1:135', auth: ['--auth', 'winbind', '--smb-conf', d.smbConf, '--keytab', keytab], env });
  });
  after(async () => {
    await w?.stop();
    await d?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('loads the keytab and says which principals and kvnos it serves', () => {
    assert.match(w.logs(), /"msg":"Kerberos service keys loaded"/);
    assert.match(w.logs(), /cifs\/filesrv\.witness\.test@WITNESS\.TEST kvno 1/);
    assert.match(w.logs(), /"mechanisms":\["kerberos","ntlmssp","spnego\(kerberos, ntlmssp\)"\]/);
  });

  for (const options of [['sign', 'krb5'], ['seal', 'krb5'], ['sign', 'spnego'], ['seal', 'spnego']]) {
    it(`python3-samba [${options.join(',')}] with a cifs/ ticket: registers; the identity is the PAC's WITNESS\\user`, async () => {
      const before = authLines(w.logs(), 'client authenticated').length;
      const r = await runPy([
        connect(w.port, options),
        { op: 'GetInterfaceList', conn: 'a' },
        { op: 'RegisterEx', conn: 'a', version: 0x20000, net: 'FILESRV', share: null, ip: '127.0.0.2', client: `krb-${options.join('-')}`, flags: 0, timeout: 60, save: 'h' },
        { op: 'UnRegisterEx', conn: 'a', handle: 'h' },
      ], 60_000, py);
      assert.ok(r.every((x) => x.ok), `${JSON.stringify(r)}\n${w.logs().slice(-3000)}`);
      const line = authLines(w.logs(), 'client authenticated').slice(before).join('\n');
      const spnego = options.includes('spnego');
      assert.match(line, spnego ? /"mech":"spnego\(kerberos\)","authType":9/ : /"mech":"kerberos","authType":16/);
      assert.match(line, new RegExp(`"authLevel":${options.includes('seal') ? 6 : 5}`));
      assert.match(line, /"user":"WITNESS\\\\witnessuser"/);
      // The registration (witnessctl list's user=) carries the PAC's identity; the journal writes it shortly after.
      const client = `krb-${options.join('-')}`;
      let identity: string | null | undefined;
      for (const t0 = Date.now(); identity === undefined && Date.now() - t0 < 10_000; await new Promise((r) => setTimeout(r, 50))) {
        const st = openStore(w.db, { readonly: true });
        try {
          identity = listRegistrations(st, { all: true }).find((x) => x.clientName === client)?.identity;
        } finally {
          st.close();
        }
      }
      assert.equal(identity, 'WITNESS\\witnessuser');
    });
  }

  it('an rc4-hmac session (RFC 4757 tokens, where the domain still allows it): python3-samba [sign,krb5] and [seal,krb5] register', async () => {
    // A client configuration that asks the KDC for rc4-hmac service tickets only.
    const conf = path.join(tmp, 'krb5-rc4.conf');
    fs.writeFileSync(conf, fs.readFileSync(d.krb5Conf, 'utf8').replace('[libdefaults]', '[libdefaults]\n\tdefault_tgs_enctypes = arcfour-hmac-md5\n\tpermitted_enctypes = arcfour-hmac-md5 aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96'));
    const cache = 'krb5-rc4';
    const env: Record<string, string> = { ...d.krbEnv(cache), KRB5_CONFIG: conf };
    assert.equal(d.inMember(['kinit', d.user], { input: `${d.password}\n`, env }).code, 0);
    const kv = d.inMember(['kvno', TARGET], { env });
    assert.equal(kv.code, 0, kv.stderr);
    const kl = d.inMember(['klist', '-e'], { env });
    // The session key is rc4-hmac (so are the subkeys and the per-PDU tokens); the KDC still encrypts the ticket with AES.
    assert.match(kl.stdout, /cifs\/filesrv\.witness\.test@WITNESS\.TEST\n[^\n]*Etype \(skey, tkt\): (DEPRECATED:)?arcfour-hmac,/, kl.stdout);
    for (const options of [['sign', 'krb5'], ['seal', 'krb5']]) {
      const r = await runPy([{ ...connect(w.port, options), ccache: env.KRB5CCNAME }, { op: 'GetInterfaceList', conn: 'a' }], 60_000, ['env', `KRB5_CONFIG=${conf}`]);
      assert.ok(r.every((x) => x.ok), `${JSON.stringify(r)}\n${w.logs().slice(-2000)}`);
    }
  });

  it('NTLM still works beside Kerberos: a domain user over NTLMSSP, and SPNEGO falling back to NTLMSSP for a client without Kerberos', async () => {
    const before = authLines(w.logs(), 'client authenticated').length;
    for (const options of [['sign', 'ntlm'], ['sign', 'spnego']]) {
      const r = await runPy([
        { op: 'connect', conn: 'a', port: w.port, user: d.user, password: d.password, domain: d.domain, kerberos: 'disabled', options },
        { op: 'GetInterfaceList', conn: 'a' },
      ], 60_000, py);
      assert.ok(r.every((x) => x.ok), `${JSON.stringify(r)}\n${w.logs().slice(-2000)}`);
    }
    await waitLog(w.logs, /"mech":"spnego\(ntlmssp\)","authType":9/);
    const lines = authLines(w.logs(), 'client authenticated').slice(before).join('\n');
    assert.match(lines, /"mech":"ntlmssp","authType":10[^\n]*"user":"WITNESS\\\\witnessuser"/);
  });

  it('rpcclient --use-kerberos=required [sign] and [seal] (auth type 16, AUTH3 leg)', async () => {
    const fqdn = `${d.netName.toLowerCase()}.${d.dnsDomain}`;
    for (const opt of ['sign', 'seal']) {
      const argv = rpcclientArgv(hosts, d.krb5Conf, ccache, ['-c', 'GetInterfaceList', `ncacn_ip_tcp:${fqdn}[${opt}]`]);
      const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}\n${w.logs().slice(-2000)}`);
      assert.match(r.stdout, /^\*\+ N2 127\.0\.0\.2 /m);
    }
    await waitLog(w.logs, /"leg":"auth3","mech":"kerberos","authType":16,"authLevel":6/);
  });

  it('an rpcclient Kerberos session at privacy registers and receives a notification', async () => {
    const fqdn = `${d.netName.toLowerCase()}.${d.dnsDomain}`;
    const argv = rpcclientArgv(hosts, d.krb5Conf, ccache, [`ncacn_ip_tcp:${fqdn}[seal]`]);
    const p = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let buf = '';
    p.stdout.on('data', (c: Buffer) => { buf += c.toString(); });
    p.stderr.on('data', (c: Buffer) => { buf += c.toString(); });
    const until = async (re: RegExp, ms = 20_000): Promise<string> => {
      const t0 = Date.now();
      while (!re.test(buf)) {
        if (Date.now() - t0 > ms || p.exitCode !== null) throw new Error(`rpcclient: ${re} not seen in ${JSON.stringify(buf)}\n${w.logs().slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return buf;
    };
    try {
      const handle = /^(\d+:[0-9a-f-]{36})$/m;
      p.stdin.write('RegisterEx --net=FILESRV --ip=127.0.0.2 --client=rpcc-krb5 --timeout=120\n');
      const h = handle.exec(await until(handle))?.[1];
      assert.ok(h !== undefined);
      buf = '';
      p.stdin.write(`AsyncNotify ${h}\n`);
      await new Promise((r) => setTimeout(r, 300));
      const st = openStore(w.db);
      try {
        commitSync(st, twoNodeView(2, { ips: [twoNodeView().ips[0]!, { ...twoNodeView().ips[1]!, node: null, started: false }] }), diffViews);
      } finally {
        st.close();
      }
      assert.match(await until(/messages\n.*\n/), /Resource change with 1 messages\nFILESRV -> Unavailable/);
    } finally {
      p.stdin.end('quit\n');
      const timer = setTimeout(() => p.kill('SIGKILL'), 3000);
      await new Promise((r) => p.once('close', r));
      clearTimeout(timer);
      const st = openStore(w.db);
      commitSync(st, twoNodeView(3), diffViews);
      st.close();
    }
  });

  // smbtorture's Register, RegisterEx and UnRegister tests first list the server's shares over SMB
  // (srvsvc on a named pipe) with the same Kerberos ticket: the member's smbd serves FILESRV's name
  // on loopback for that (test/domain/member-smbd.ts), and a witnessd that knows its share.
  it('smbtorture rpc.witness over Kerberos (--use-kerberos=required): GetInterfaceList, Register, RegisterEx, UnRegister at [sign,krb5], [seal,krb5] and [seal] (SPNEGO)', async () => {
    const fqdn = `${d.netName.toLowerCase()}.${d.dnsDomain}`;
    const smbd = await startMemberSmbd(d, { port: SMB_PORT, keytab, users: [`${d.domain}\\${d.user}`] });
    const k = await startWitnessd({ view: twoNodeView(1, { shares: [{ name: smbd.share, resource: 'g1', node: 'n2', ips: ['127.0.0.2'] }] }), auth: ['--auth', 'winbind', '--smb-conf', d.smbConf, '--keytab', keytab], env: d.wbclientPreloadEnv() ?? {} });
    try {
      const tests = ['GetInterfaceList', 'Register', 'RegisterEx', 'UnRegister'];
      for (const binding of ['sign,krb5', 'seal,krb5', 'seal']) {
        // One smbtorture run per binding, the four tests in it.
        const argv = ['unshare', '-m', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hosts, 'env', `KRB5_CONFIG=${d.krb5Conf}`, `KRB5CCNAME=${ccache}`, 'smbtorture', `ncacn_ip_tcp:${fqdn}[${k.port},${binding}]`, '--use-kerberos=required', `--use-krb5-ccache=${ccache}`, '-p', String(SMB_PORT), '--option=torture:net_name=FILESRV', ...tests.map((t) => `rpc.witness.witness.${t}`)];
        const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 120_000 });
        const out = `${r.stdout}${r.stderr}`;
        for (const t of tests) assert.match(out, new RegExp(`^success: witness\\.${t}$`, 'm'), `[${binding}] ${out}\n${k.logs().slice(-3000)}\n${smbd.logs()}`);
        assert.equal(r.status, 0, out);
      }
      // Every witness binding was Kerberos (auth type 16, or SPNEGO's Kerberos), as the PAC's user.
      const lines = (): string => authLines(k.logs(), 'client authenticated').join('\n');
      await waitLog(lines, /"mech":"kerberos","authType":16,"authLevel":5[^\n]*"user":"WITNESS\\\\witnessuser"/);
      await waitLog(lines, /"mech":"kerberos","authType":16,"authLevel":6/);
      await waitLog(lines, /"mech":"spnego\(kerberos\)","authType":9,"authLevel":6/);
      assert.doesNotMatch(lines(), /ntlmssp/);
    } finally {
      await k.stop();
      await smbd.stop();
    }
  });

  it('tshark decrypts sealed Kerberos sessions (auth type 16 and SPNEGO) with the keytab: WITNESS calls read, no malformed frame', async () => {
    const cap = new Capture([w.port], path.join(tmp, 'krb5.pcapng'));
    await cap.started();
    for (const options of [['seal', 'krb5'], ['seal', 'spnego']]) {
      const r = await runPy([connect(w.port, options), { op: 'GetInterfaceList', conn: 'a' }], 60_000, py);
      assert.ok(r.every((x) => x.ok), JSON.stringify(r));
    }
    const file = await cap.stop();
    const opts = ['-o', 'kerberos.decrypt:TRUE', '-o', `kerberos.file:${keytab}`];
    // Our frames: no malformed frame, no warning. The clients' binds carry tshark's notes that it
    // cannot check the PAC's KDC signature (it has no krbtgt key): warnings, not malformed.
    const report = checkPcap(file, [w.port], opts, [w.port]);
    assert.ok(report.witnessFrames >= 4, `only ${report.witnessFrames} witness frames`);
    assert.deepEqual(report.problems.filter((p) => !/Connection reset \(RST\)$/.test(p)), []);
    const malformed = spawnSync('tshark', ['-r', file, ...opts, '-d', `tcp.port==${w.port},dcerpc`, '-Y', '_ws.malformed', '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' });
    assert.equal(malformed.stdout.trim(), '', 'no malformed frame either way');
    // Interface names travel only inside sealed stubs: read, they prove the decryption.
    const names = spawnSync('tshark', ['-r', file, ...opts, '-d', `tcp.port==${w.port},dcerpc`, '-Y', 'dcerpc.auth_level == 6 && witness.witness_interfaceInfo.group_name', '-T', 'fields', '-e', 'dcerpc.auth_type', '-e', 'witness.witness_interfaceInfo.group_name'], { encoding: 'utf8' });
    assert.match(names.stdout, /^16\tN1,N2$/m, names.stdout + names.stderr);
    assert.match(names.stdout, /^9\tN1,N2$/m, names.stdout + names.stderr);
  });

  it('a ticket for another service (the member\'s host/) is refused, the log names that service', async () => {
    const r = await runPy([connect(w.port, ['sign', 'krb5'], `host/${d.memberName.toLowerCase()}.${d.dnsDomain}`), { op: 'GetInterfaceList', conn: 'a' }], 60_000, py);
    assert.notEqual(r[1]?.ok, true, JSON.stringify(r));
    await waitLog(w.logs, /"code":"logon-failure","error":"Kerberos \[wrong-service\][^"]*ticket for host\/wmember\.witness\.test@WITNESS\.TEST/);
  });

  it('a tampered wrap token (one bit of a sealed request\'s verifier) is refused: fault 0x721, logged', async () => {
    const proxy = new TamperProxy(w.port, (pdu) => {
      if (ptypeOf(pdu) === 0 && pdu.length > 40) pdu[pdu.length - 20] = (pdu[pdu.length - 20] ?? 0) ^ 0x01;
      return [pdu];
    });
    const port = await proxy.listen();
    try {
      const r = await runPy([connect(port, ['seal', 'krb5']), { op: 'GetInterfaceList', conn: 'a' }], 60_000, py);
      assert.notEqual(r[1]?.ok, true, JSON.stringify(r));
      await waitLog(w.logs, /request refused by the security layer[^\n]*Kerberos wrap token refused|Kerberos wrap token refused[^\n]*request refused by the security layer/);
    } finally {
      await proxy.close();
    }
  });

  it('a replayed bind (the same AP-REQ on a new connection) is refused by the replay cache', async () => {
    let bind: Buffer | null = null;
    const proxy = new TamperProxy(w.port, (pdu) => {
      if (ptypeOf(pdu) === 11 && bind === null) bind = Buffer.from(pdu);
      return [pdu];
    });
    const port = await proxy.listen();
    try {
      const r = await runPy([connect(port, ['sign', 'krb5']), { op: 'GetInterfaceList', conn: 'a' }], 60_000, py);
      assert.ok(r.every((x) => x.ok), JSON.stringify(r));
    } finally {
      await proxy.close();
    }
    assert.ok(bind, 'the client\'s bind was seen');
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const s = net.connect({ port: w.port, host: '127.0.0.1' }, () => s.write(bind!));
      let got = Buffer.alloc(0);
      s.on('data', (c: Buffer) => {
        got = Buffer.concat([got, c]);
        if (got.length >= 10 && got.length >= got.readUInt16LE(8)) {
          s.destroy();
          resolve(got);
        }
      });
      s.on('error', reject);
      setTimeout(() => { s.destroy(); reject(new Error('no reply to the replayed bind')); }, 10_000);
    });
    assert.equal(ptypeOf(reply), 13, 'bind_nak');
    await waitLog(w.logs, /"error":"Kerberos \[replay\]/);
  });

  it('a keytab without the ticket\'s kvno is refused ([no-key-for-kvno]); the right keytab put in its place is used without a restart', async () => {
    const rotating = path.join(tmp, 'rotating.keytab');
    rekvno(d.keytab, rotating, 7);
    const k = await startWitnessd({ view: twoNodeView(), auth: ['--auth', 'winbind', '--smb-conf', d.smbConf, '--keytab', rotating], env: d.wbclientPreloadEnv() ?? {} });
    try {
      const bad = await runPy([connect(k.port, ['sign', 'krb5']), { op: 'GetInterfaceList', conn: 'a' }], 60_000, py);
      assert.notEqual(bad[1]?.ok, true, JSON.stringify(bad));
      await waitLog(k.logs, /"error":"Kerberos \[no-key-for-kvno\][^"]*kvno 1/);
      // Rotation as an admin does it: the new keytab renamed over the old one.
      fs.copyFileSync(d.keytab, `${rotating}.new`);
      fs.renameSync(`${rotating}.new`, rotating);
      await new Promise((r) => setTimeout(r, 1100)); // the keytab's stat is compared at most once a second
      const good = await runPy([connect(k.port, ['sign', 'krb5']), { op: 'GetInterfaceList', conn: 'a' }], 60_000, py);
      assert.ok(good.every((x) => x.ok), `${JSON.stringify(good)}\n${k.logs().slice(-2000)}`);
      assert.match(k.logs(), /keytab changed: acceptor credentials acquired again/);
    } finally {
      await k.stop();
    }
  });

  it('clock skew: witnessd\'s clock two hours ahead (libfaketime) refuses the ticket with [clock-skew], naming it', { skip: fs.existsSync(LIBFAKETIME) ? false : 'faketime is not installed' }, async () => {
    // libfaketime moves the wall clock (MIT's time()) and leaves the monotonic one (Node's timers).
    // Preloaded into witnessd itself: the faketime wrapper would fork, and stop() would kill only the wrapper.
    const env = d.wbclientPreloadEnv() ?? {};
    env.LD_PRELOAD = [env.LD_PRELOAD, LIBFAKETIME].filter((x) => x !== undefined).join(':');
    const k = await startWitnessd({ view: twoNodeView(), auth: ['--auth', 'winbind', '--smb-conf', d.smbConf, '--keytab', keytab], env: { ...env, FAKETIME: '+2h', FAKETIME_DONT_FAKE_MONOTONIC: '1' } });
    try {
      const r = await runPy([connect(k.port, ['sign', 'krb5']), { op: 'GetInterfaceList', conn: 'a' }], 60_000, py);
      assert.notEqual(r[1]?.ok, true, JSON.stringify(r));
      await waitLog(k.logs, /"error":"Kerberos \[clock-skew\][^"]*ticket for cifs\/filesrv\.witness\.test@WITNESS\.TEST/);
    } finally {
      await k.stop();
    }
  });

  it('an expired ticket is refused with [ticket-expired], the log naming the client principal and the ticket\'s end', { skip: fs.existsSync(LIBFAKETIME) ? false : 'faketime is not installed' }, async () => {
    // A real ticket that has expired by witnessd's clock while the client still holds it valid by
    // its own: a TGT of 10 minutes (kinit -l; the KDC caps the service ticket at the TGT's end;
    // Samba's client credentials treat a ticket with less than 5 minutes left as expired), and
    // witnessd's wall clock 20 minutes ahead. MIT's rd_req checks the ticket's times (end + the
    // 300 s skew allowance) before the authenticator's clock, so the refusal is the expiry.
    const cache = 'krb5-short';
    const env = d.krbEnv(cache);
    assert.equal(d.inMember(['kinit', '-l', '10m', d.user], { input: `${d.password}\n`, env }).code, 0);
    const kv = d.inMember(['kvno', TARGET], { env });
    assert.equal(kv.code, 0, kv.stderr);
    const kl = d.inMember(['klist'], { env });
    // "11/30/26 01:40:00  11/30/26 01:50:00  cifs/filesrv.witness.test@WITNESS.TEST": ten minutes.
    const times = new RegExp(`^(\\S+ \\S+)\\s+(\\S+ \\S+)\\s+${TARGET.replace(/\./g, '\\.')}@`, 'm').exec(kl.stdout);
    assert.ok(times, kl.stdout);
    const lifetime = (Date.parse(times[2]!) - Date.parse(times[1]!)) / 1000;
    assert.ok(lifetime > 300 && lifetime <= 600, `service ticket lifetime ${lifetime} s\n${kl.stdout}`);
    const wenv = d.wbclientPreloadEnv() ?? {};
    wenv.LD_PRELOAD = [wenv.LD_PRELOAD, LIBFAKETIME].filter((x) => x !== undefined).join(':');
    const k = await startWitnessd({ view: twoNodeView(), auth: ['--auth', 'winbind', '--smb-conf', d.smbConf, '--keytab', keytab], env: { ...wenv, FAKETIME: '+20m', FAKETIME_DONT_FAKE_MONOTONIC: '1' } });
    try {
      const r = await runPy([{ ...connect(k.port, ['sign', 'krb5']), ccache: env.KRB5CCNAME }, { op: 'GetInterfaceList', conn: 'a' }], 60_000, py);
      assert.notEqual(r[0]?.ok && r[1]?.ok, true, JSON.stringify(r));
      await waitLog(k.logs, /"code":"logon-failure","error":"Kerberos \[ticket-expired\]: the ticket has expired: witnessuser@WITNESS\.TEST's ticket, valid [^"]* to [^"]*, now [^"]*\(ticket for cifs\/filesrv\.witness\.test@WITNESS\.TEST/);
      assert.doesNotMatch(k.logs(), /"msg":"client authenticated"/);
    } finally {
      await k.stop();
    }
  });

  it('@group by name in the allow-list: a member of the AD group is admitted over Kerberos (the PAC\'s SIDs named through winbindd\'s socket, or the groups through wbinfo on the helper path), a non-member is refused', async () => {
    // A group, a member and an outsider of the test's own (idempotent: the domain is shared across
    // test files). Users of their own: winbindd answers the helper path's wbinfo --user-sids from
    // what it cached at the user's last logon through it, and the test user logs on over NTLM above.
    const group = 'witness-krb-admins';
    const member = 'krbmember';
    const other = 'krbother';
    const password = 'Krb-Test-User-1x';
    const ldb = ['-H', path.join(path.dirname(path.dirname(d.dcSmbConf)), 'private', 'sam.ldb'), '-s', d.dcSmbConf];
    for (const argv of [['group', 'add', group], ['user', 'create', member, password], ['user', 'create', other, password], ['group', 'addmembers', group, member]]) {
      const r = d.inDc(['samba-tool', ...argv, ...ldb]);
      assert.ok(r.code === 0 || /already/i.test(r.stdout + r.stderr), `samba-tool ${argv.join(' ')}: ${r.stdout}${r.stderr}`);
    }
    // Fresh TGTs (the KDC writes the groups into the PAC when it issues the TGT), then the service tickets.
    const caches: Record<string, string> = {};
    for (const user of [member, other]) {
      const env = d.krbEnv(`krb5-group-${user}`);
      assert.equal(d.inMember(['kinit', user], { input: `${password}\n`, env }).code, 0, `kinit ${user}`);
      const kv = d.inMember(['kvno', TARGET], { env });
      assert.equal(kv.code, 0, kv.stderr);
      caches[user] = env.KRB5CCNAME!;
    }
    // Both ways witnessd asks winbind: winbindd's privileged socket (LOOKUPSID for the PAC's SIDs),
    // and the ntlm_auth helper path (winbindDirect false: the account's groups through wbinfo).
    const helpersConf = path.join(tmp, 'witnessd-helpers.json');
    fs.writeFileSync(helpersConf, JSON.stringify({ winbindDirect: false }));
    for (const [how, extra, startLine] of [['direct', [], /group SIDs \(from the PAC\) are named through winbindd/], ['helpers', ['--config', helpersConf], /groups are asked of winbindd with wbinfo/]] as const) {
      const k = await startWitnessd({ view: twoNodeView(), auth: ['--auth', 'winbind', '--smb-conf', d.smbConf, '--keytab', keytab, '--allow', `@${group}`, ...extra], env: d.wbclientPreloadEnv() ?? {} });
      try {
        assert.match(k.logs(), startLine, how);
        const admitted = await runPy([
          { ...connect(k.port, ['sign', 'krb5']), ccache: caches[member]! },
          { op: 'RegisterEx', conn: 'a', version: 0x20000, net: 'FILESRV', share: null, ip: '127.0.0.2', client: `krb-group-member-${how}`, flags: 0, timeout: 60, save: 'h' },
          { op: 'UnRegisterEx', conn: 'a', handle: 'h' },
        ], 60_000, py);
        assert.ok(admitted.every((x) => x.ok), `${how}: ${JSON.stringify(admitted)}\n${k.logs().slice(-3000)}`);
        const outsider = await runPy([{ ...connect(k.port, ['sign', 'spnego']), ccache: caches[other]! }, { op: 'GetInterfaceList', conn: 'a' }], 60_000, py);
        assert.equal(outsider[0]?.ok, true, JSON.stringify(outsider));
        assert.notEqual(outsider[1]?.ok, true, JSON.stringify(outsider));
        await waitLog(k.logs, /WITNESS\\\\krbother is not in the allow-list/);
        assert.match(k.logs(), /"mech":"kerberos"[^\n]*"user":"WITNESS\\\\krbmember"[^\n]*"msg":"client authenticated"/);
        assert.doesNotMatch(k.logs(), /WITNESS\\\\krbmember is not in the allow-list/);
      } finally {
        await k.stop();
      }
    }
  });

  it('a missing keytab stops witnessd at start with the reason', async () => {
    await assert.rejects(startWitnessd({ view: twoNodeView(), auth: ['--auth', 'winbind', '--smb-conf', d.smbConf, '--keytab', path.join(tmp, 'absent.keytab')], env: d.wbclientPreloadEnv() ?? {} }), /the keytab \S*absent\.keytab does not exist/);
  });
});
