// Shares learnt from Samba, with real peers: Debian's testparm on a generated smb.conf, registry
// shares made with Samba's own `net conf` (a private smb.conf, state directory and registry in the
// test's directory: the machine's /etc/samba and /var/lib/samba are never touched), CIBs made by
// Pacemaker's crm_simulate, the agent's CLI (sync, and watch following smb.conf edits), and
// python3-samba's RegisterEx against witnessd serving the store.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ClusterEvent, ClusterView } from '../../store/types.ts';
import { NO_RESOURCE, SambaShareSource } from '../../agent/samba-shares.ts';
import { MessageType, WinError, WitnessVersion } from '../../service/swn/constants.ts';
import { openStore } from '../../store/index.ts';
import { listRegistrations } from '../../store/registrations.ts';
import { ROOT, runPy, startWitnessd } from './peers.ts';

const AGENT = path.join(ROOT, 'bin/witness-agent');
const VIP = '198.18.0.100'; // moves with g-fs1
const VIP2 = '198.18.0.101'; // stays on n2: clients register through it

function run(cmd: string, args: string[], env: Record<string, string> = {}): { out: string; err: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, PCMK_logfile: '/dev/null', LC_ALL: 'C', ...env }, timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} → ${r.status ?? r.signal}\n${r.stdout}\n${r.stderr}`);
  return { out: r.stdout, err: r.stderr };
}

interface Shown { view: ClusterView | null; events: ClusterEvent[] }

describe('shares learnt from Samba (testparm, net conf) and RegisterEx', { timeout: 180_000 }, () => {
  let dir = '';
  let smbConf = '';
  let db = '';
  let started = '';
  let moved = '';
  const net = (...args: string[]): string => run('net', [`--configfile=${smbConf}`, 'conf', ...args]).out;
  const show = (): Shown => JSON.parse(run(AGENT, ['show', '--json', '--events', '100', '--db', db]).out) as Shown;
  const sync = (cib: string, ...extra: string[]): { out: string; err: string } => run(AGENT, ['sync', '--db', db, '--cib-file', cib, '--smb-conf', smbConf, ...extra]);
  const shares = (v: ClusterView | null): string[] => (v?.shares ?? []).map((s) => `${s.name}=${s.resource === NO_RESOURCE ? '-' : s.resource}@${s.node ?? '-'}:${s.ips.join('+')}`);

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-shares-'));
    for (const d of ['state', 'cache', 'lock', 'private', 'pid', 'ncalrpc', 'mnt/fs1', 'mnt/fs2']) fs.mkdirSync(path.join(dir, d), { recursive: true });
    smbConf = path.join(dir, 'smb.conf');
    db = path.join(dir, 'state.db');
    const priv = ['state', 'cache', 'lock', 'private', 'pid', 'ncalrpc'].map((d) => `\t${d === 'private' ? 'private dir' : d === 'ncalrpc' ? 'ncalrpc dir' : `${d} directory`} = ${dir}/${d}\n`).join('');
    fs.writeFileSync(smbConf, [
      `[global]\n\tworkgroup = PWSHARES\n${priv}\tregistry shares = yes\n\tload printers = no\n`,
      `[Data]\n\tpath = ${dir}/mnt/fs1/data\n`,
      `[other]\n\tpath = "${dir}/mnt/fs2/x/"\n`,
      '[local]\n\tpath = /var/tmp\n',
      `[printers]\n\tpath = /var/tmp\n\tprintable = yes\n`,
    ].join('\n'));
    // A registry share, the way an admin makes one.
    net('addshare', 'RegShare', `${dir}/mnt/fs1/reg`);
    // The CIBs: g-fs1 (its file system and VIP) on n1, fs2 and VIP2 on n2; then g-fs1 moved to n2.
    const base = path.join(dir, 'base.xml');
    fs.writeFileSync(base, run('cibadmin', ['--empty']).out);
    const cib = { CIB_file: base };
    for (const [n, v] of [['stonith-enabled', 'false'], ['no-quorum-policy', 'ignore']] as const) run('crm_attribute', ['-t', 'crm_config', '-n', n, '-v', v], cib);
    const add = (section: string, xml: string): void => { run('cibadmin', ['-C', '-o', section, '-X', xml], cib); };
    const fsPrim = (id: string, dirName: string): string => `<primitive id="${id}" class="ocf" provider="heartbeat" type="Filesystem"><instance_attributes id="${id}-ia"><nvpair id="${id}-dev" name="device" value="/dev/pw-none-${id}"/><nvpair id="${id}-dir" name="directory" value="${dir}/mnt/${dirName}/"/><nvpair id="${id}-fst" name="fstype" value="xfs"/></instance_attributes></primitive>`;
    const ipPrim = (id: string, addr: string): string => `<primitive id="${id}" class="ocf" provider="heartbeat" type="IPaddr2"><instance_attributes id="${id}-ia"><nvpair id="${id}-ip" name="ip" value="${addr}"/><nvpair id="${id}-nm" name="cidr_netmask" value="24"/></instance_attributes></primitive>`;
    add('resources', `<group id="g-fs1">${fsPrim('fs1', 'fs1')}${ipPrim('vip', VIP)}</group>`);
    add('resources', fsPrim('fs2', 'fs2'));
    add('resources', ipPrim('vip2', VIP2));
    add('constraints', '<rsc_location id="loc-g" rsc="g-fs1" node="n1" score="100"/>');
    add('constraints', '<rsc_location id="loc-fs2" rsc="fs2" node="n2" score="100"/>');
    add('constraints', '<rsc_location id="loc-vip2" rsc="vip2" node="n2" score="100"/>');
    started = path.join(dir, 'started.xml');
    run('crm_simulate', ['--quiet', '-x', base, '--node-up', 'n1', '--node-up', 'n2', '-S', '-O', started]);
    const toMove = path.join(dir, 'to-move.xml');
    fs.copyFileSync(started, toMove);
    run('crm_resource', ['--move', '-r', 'g-fs1', '-N', 'n2'], { CIB_file: toMove });
    moved = path.join(dir, 'moved.xml');
    run('crm_simulate', ['--quiet', '-x', toMove, '-S', '-O', moved]);
  });
  after(() => {
    if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
  });

  it('every share smbd would serve, registry shares included, follows the Filesystem its path lies under (or nothing)', () => {
    const r = sync(started);
    assert.match(r.err, /"msg":"Samba shares read"/);
    assert.deepEqual(shares(show().view), ['Data=g-fs1@n1:198.18.0.100', 'RegShare=g-fs1@n1:198.18.0.100', 'local=-@-:', 'other=fs2@n2:198.18.0.101'].sort((a, b) => (a < b ? -1 : 1)));
    // A second process while nothing changed: the reading kept beside the store, no testparm.
    const again = sync(started);
    assert.doesNotMatch(again.err, /Samba shares read/);
    // --no-samba-shares: the share map alone, as before.
    const off = sync(started, '--no-samba-shares', '--shares', 'Data=g-fs1');
    assert.doesNotMatch(off.err, /Samba shares read/);
    assert.deepEqual(shares(show().view), ['Data=g-fs1@n1:198.18.0.100']);
    sync(started);
  });

  it('an include named by substitution (%m): read once, and read again after a minute, not at every check', () => {
    const conf = path.join(dir, 'smb-m.conf');
    fs.writeFileSync(conf, `[global]\n\tstate directory = ${dir}/state\n\tcache directory = ${dir}/cache\n\tlock directory = ${dir}/lock\n\tinclude = ${dir}/%m.conf\n[M]\n\tpath = ${dir}/mnt/fs1/m\n`);
    const src = new SambaShareSource({ smbConf: conf });
    assert.deepEqual(src.catalogue()?.shares.map((x) => x.name), ['M']);
    assert.equal(src.changed(), false);
    src.catalogue();
    assert.equal(src.runs, 1);
  });

  it('an smb.conf testparm cannot load (an edit half done): the last shares read stay until it is fixed', () => {
    const conf = path.join(dir, 'smb-edit.conf');
    const good = `[global]\n\tstate directory = ${dir}/state\n\tcache directory = ${dir}/cache\n\tlock directory = ${dir}/lock\n[Kept]\n\tpath = ${dir}/mnt/fs1/k\n`;
    fs.writeFileSync(conf, good);
    const src = new SambaShareSource({ smbConf: conf });
    assert.deepEqual(src.catalogue()?.shares.map((x) => x.name), ['Kept']);
    fs.writeFileSync(conf, `${good}[Half\n\tpath = /x\n`); // testparm: "Error loading services."
    assert.equal(src.changed(), true);
    assert.deepEqual(src.catalogue()?.shares.map((x) => x.name), ['Kept']);
    assert.equal(src.runs, 2);
    fs.writeFileSync(conf, `${good}[Half]\n\tpath = ${dir}/mnt/fs1/h\n`);
    assert.deepEqual(src.catalogue()?.shares.map((x) => x.name), ['Kept', 'Half']);
  });

  it('watch: an smb.conf edit and a registry share removed with net conf are recorded within seconds, no CIB change needed', async () => {
    const ready = path.join(dir, 'watch.ready');
    const w = spawn(AGENT, ['watch', '--db', db, '--smb-conf', smbConf, '--no-relay', '--no-plan', '--ready-file', ready], { env: { ...process.env, CIB_file: started, LC_ALL: 'C' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    w.stderr.on('data', (d: Buffer) => { log += d.toString(); });
    const until = async (what: string, f: () => boolean): Promise<number> => {
      const t0 = Date.now();
      while (!f()) {
        if (Date.now() - t0 > 15_000) throw new Error(`timed out waiting for ${what}\n${log}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return Date.now() - t0;
    };
    const seq0 = show().events.at(-1)?.seq ?? 0;
    const fresh = (): string[] => show().events.filter((e) => e.seq > seq0).map((e) => `${e.kind} ${e.subject} ${e.from ?? '-'}>${e.to ?? '-'}`);
    try {
      await until('the watcher to be ready', () => fs.existsSync(ready));
      fs.appendFileSync(smbConf, `\n[New]\n\tpath = ${dir}/mnt/fs1/new\n`);
      const tAdd = await until('share_added New', () => fresh().includes('share_added New ->n1'));
      net('delshare', 'RegShare');
      const tDel = await until('share_removed RegShare', () => fresh().includes('share_removed RegShare n1>-'));
      console.log(`# smb.conf edit → share_added in ${tAdd} ms; net conf delshare → share_removed in ${tDel} ms (checked every 1,000 ms)`);
      assert.deepEqual(fresh(), ['share_added New ->n1', 'share_moved New ->n1', 'share_removed RegShare n1>-']);
    } finally {
      w.kill('SIGTERM');
      await new Promise((r) => w.once('exit', r));
    }
  });

  it('python3-samba: RegisterEx for an unknown share gets ERROR_INVALID_STATE (logged), for a known one (any case) succeeds; the share\'s group moves → SHARE_MOVE', async () => {
    const w = await startWitnessd({ db, node: 'n2' });
    try {
      const client = runPy([
        { op: 'connect', conn: 'a', port: w.port },
        { op: 'RegisterEx', conn: 'a', version: WitnessVersion.V2, net: 'FILESRV', share: 'nosuch', ip: VIP2, client: 'share-client', flags: 0, timeout: 60 },
        { op: 'RegisterEx', conn: 'a', version: WitnessVersion.V2, net: 'FILESRV', share: 'local', ip: VIP2, client: 'share-client', flags: 0, timeout: 60 },
        { op: 'RegisterEx', conn: 'a', version: WitnessVersion.V2, net: 'FILESRV', share: 'data', ip: VIP2, client: 'share-client', flags: 0, timeout: 60, save: 'h' },
        { op: 'AsyncNotify', conn: 'a', handle: 'h' },
      ], 60_000);
      // The move, once the AsyncNotify waits.
      const t0 = Date.now();
      const pending = (): boolean => {
        const st = openStore(db, { readonly: true });
        try {
          return listRegistrations(st).some((x) => x.clientName === 'share-client' && x.pending);
        } finally {
          st.close();
        }
      };
      while (!pending()) {
        if (Date.now() - t0 > 20_000) throw new Error(`no AsyncNotify pending\n${w.logs()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const synced = sync(moved);
      assert.match(synced.out, /share_moved Data n1 -> n2/);
      const r = await client;
      assert.equal(r[1]?.werror, WinError.INVALID_STATE, JSON.stringify(r[1]));
      assert.equal(r[2]?.werror, 0, JSON.stringify(r[2]));
      assert.equal(r[3]?.werror, 0, JSON.stringify(r[3]));
      const res = r[4]?.['result'] as { type: number; messages: { addresses?: { ipv4: string }[] }[] } | undefined;
      assert.equal(res?.type, MessageType.SHARE_MOVE, JSON.stringify(r[4]));
      assert.deepEqual((res?.messages[0]?.addresses ?? []).map((a) => a.ipv4), [VIP]);
      const line = w.logs().split('\n').find((l) => l.includes('RegisterEx refused with ERROR_INVALID_STATE')) ?? '';
      assert.match(line, /"share":"nosuch"/);
      assert.equal(w.logs().match(/RegisterEx refused with ERROR_INVALID_STATE/g)?.length, 1);
    } finally {
      await w.stop();
    }
  });
});
