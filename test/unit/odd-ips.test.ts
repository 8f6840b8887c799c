// The agent never stops on one resource: a CIB whose IP resources carry addresses no client can
// use (test/fixtures/cib/08-odd-values.xml, made by make-fixtures.sh with cibadmin and crm_simulate:
// fe80::1%eth0, 999.1.1.1, 0x7f.1, an empty value, cidr_netmask 33, ipv6addr …/129, garbage) is
// synced with the usable IPs and everything else recorded, and each unusable one warned about
// once — by syncXml's caller, the watcher, and the `sync` command.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { parseCib } from '../../agent/cib/parse.ts';
import { defaultViewConfig, parseSharesMap, type ViewConfig } from '../../agent/config.ts';
import { deriveView } from '../../agent/placement.ts';
import { simulatedView, type SimulationOptions } from '../../agent/simulate.ts';
import { SkippedIpLog } from '../../agent/skipped.ts';
import { syncXml } from '../../agent/sync.ts';
import { runWatch } from '../../agent/watcher.ts';
import { openStore } from '../../store/index.ts';
import { readView } from '../../store/view.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-odd-ips-'));
after(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

const fixtureUrl = (name: string): URL => new URL(`../fixtures/cib/${name}.xml`, import.meta.url);
const fixture = (name: string): string => fs.readFileSync(fixtureUrl(name), 'utf8');
const cfg = (): ViewConfig => ({ ...defaultViewConfig(), shares: parseSharesMap('DATA=g-data') });

interface LogLine { level: number; msg: string; resource?: string; param?: string | null; value?: string | null; zone?: string }

function capture(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => { lines.push(JSON.parse(s) as LogLine); } });
  return { logger, lines };
}

const warnings = (lines: LogLine[]): string[] => lines.filter((l) => l.level === 40).map((l) => l.msg);

/** The warning for each unusable resource of 08-odd-values, in resource order. */
const EXPECTED = [
  'IP resource vip-999 skipped: ip="999.1.1.1" is not usable: not a dotted-decimal IPv4 address (four decimal numbers 0-255, no leading zeros; short, hexadecimal and octal forms are refused)',
  'IP resource vip-empty skipped: ip="" is not usable: empty',
  'IP resource vip-hex skipped: ip="0x7f.1" is not usable: not a dotted-decimal IPv4 address (four decimal numbers 0-255, no leading zeros; short, hexadecimal and octal forms are refused)',
  'IP resource vip-junk skipped: ip="not-an-ip" is not usable: not an IP address',
  'IP resource vip-ll skipped: ip="fe80::1%eth0" is a scoped IPv6 address (zone %eth0), usable only on the link of the host that names that interface; the zone is not stripped, as clients on other hosts and networks could not reach the address',
  'IP resource vip-p33 skipped: cidr_netmask="33" is not usable: prefix length 33 is out of range for IPv4 (0-32)',
  'IP resource vip6-p129 skipped: ipv6addr="2001:db8::20/129" is not usable: prefix length 129 is out of range for IPv6 (0-128)',
];

describe('unusable IP addresses', () => {
  it('are left out of the view; the usable ones and the rest of the cluster are all there', () => {
    const skipped: string[] = [];
    const odd = deriveView(parseCib(fixture('08-odd-values')), cfg(), (s) => skipped.push(`${s.resource} ${s.param ?? '-'}=${s.value ?? '-'}`));
    assert.deepEqual(skipped, ['vip-999 ip=999.1.1.1', 'vip-empty ip=', 'vip-hex ip=0x7f.1', 'vip-junk ip=not-an-ip', 'vip-ll ip=fe80::1%eth0', 'vip-p33 cidr_netmask=33', 'vip6-p129 ipv6addr=2001:db8::20/129']);
    const base = deriveView(parseCib(fixture('01-started')), cfg());
    // Everything 01-started has, 08 has too (08 only added resources), plus the two usable new IPs.
    assert.deepEqual(odd.nodes, base.nodes);
    assert.deepEqual(odd.witness, base.witness);
    assert.deepEqual(odd.shares, base.shares);
    const added = odd.ips.filter((i) => !base.ips.some((b) => b.resource === i.resource));
    assert.deepEqual(odd.ips.filter((i) => base.ips.some((b) => b.resource === i.resource)), base.ips);
    assert.deepEqual(added.map((i) => [i.resource, i.address, i.family, i.prefix, i.started]), [
      ['vip-c', '198.18.0.104', 4, 24, true],
      ['vip6-p64', '2001:db8::21', 6, 64, true],
    ]);
  });

  it('syncXml records the usable IPs in the store and reports the others', () => {
    const store = openStore(path.join(tmp, 'sync.db'));
    try {
      const r = syncXml(store, fixture('08-odd-values'), cfg());
      assert.equal(r.applied, true);
      const stored = readView(store);
      assert.deepEqual(stored?.ips.map((i) => `${i.address} ${i.resource} ${i.node ?? '-'}`), [
        '198.18.0.100 vip-data n1', '198.18.0.101 vip-b n2', '198.18.0.102 vip-all@n1 n1', '198.18.0.102 vip-all@n2 n2', '198.18.0.102 vip-all@n3 n3',
        '198.18.0.104 vip-c n3', '2001:db8::10 vip6 n3', '2001:db8::11 vip6b n3', '2001:db8::21 vip6-p64 n1',
      ]);
      assert.deepEqual(r.skipped.map((s) => s.resource), ['vip-999', 'vip-empty', 'vip-hex', 'vip-junk', 'vip-ll', 'vip-p33', 'vip6-p129']);
      assert.deepEqual(r.skipped.find((s) => s.resource === 'vip-ll'), { resource: 'vip-ll', agent: 'ocf:heartbeat:IPaddr2', param: 'ip', value: 'fe80::1%eth0', zone: '%eth0', reason: 'a scoped IPv6 address (zone %eth0), usable only on the link of the host that names that interface' });
    } finally {
      store.close();
    }
  });

  it('each is warned about once, naming resource and value; again only after it was fixed and broke again', () => {
    const { logger, lines } = capture();
    const log = new SkippedIpLog(logger);
    const store = openStore(path.join(tmp, 'warn.db'));
    try {
      const xml = fixture('08-odd-values');
      log.report(syncXml(store, xml, cfg()).skipped);
      assert.deepEqual(warnings(lines), EXPECTED);
      const w = lines.find((l) => l.resource === 'vip-ll');
      assert.deepEqual([w?.param, w?.value, w?.zone], ['ip', 'fe80::1%eth0', '%eth0']);
      // The same CIB again, and a newer status: nothing new.
      log.report(syncXml(store, xml, cfg()).skipped);
      log.report(syncXml(store, xml.replace(/num_updates="(\d+)"/, (_m, n: string) => `num_updates="${Number(n) + 1}"`), cfg()).skipped);
      assert.equal(warnings(lines).length, EXPECTED.length);
      // vip-999 fixed: recorded, nothing logged; vip-hex given another bad value: warned.
      const fixedXml = xml.replace('value="999.1.1.1"', 'value="198.18.0.105"').replace('value="0x7f.1"', 'value="0177.0.0.1"').replace(/epoch="(\d+)"/, (_m, n: string) => `epoch="${Number(n) + 1}"`);
      const fixed = syncXml(store, fixedXml, cfg());
      log.report(fixed.skipped);
      assert.ok(readView(store)?.ips.some((i) => i.resource === 'vip-999' && i.address === '198.18.0.105'));
      assert.deepEqual(warnings(lines).slice(EXPECTED.length), [
        'IP resource vip-hex skipped: ip="0177.0.0.1" is not usable: not a dotted-decimal IPv4 address (four decimal numbers 0-255, no leading zeros; short, hexadecimal and octal forms are refused)',
      ]);
      // Broken again: warned again.
      log.report(syncXml(store, xml.replace(/epoch="(\d+)"/, (_m, n: string) => `epoch="${Number(n) + 2}"`), cfg()).skipped);
      assert.deepEqual(warnings(lines).slice(EXPECTED.length + 1), [EXPECTED[0], EXPECTED[2]]);
    } finally {
      store.close();
    }
  });

  it('the watcher keeps syncing and warns once however many times the CIB changes', async () => {
    const cibFile = path.join(tmp, 'cib.xml');
    const db = path.join(tmp, 'watch.db');
    const xml = fixture('08-odd-values');
    fs.writeFileSync(cibFile, xml);
    const { logger, lines } = capture();
    const ac = new AbortController();
    const saved = process.env['CIB_file'];
    process.env['CIB_file'] = cibFile;
    const done = runWatch({ db, config: cfg(), logger, signal: ac.signal });
    const synced = (): number => lines.filter((l) => l.msg === 'synced').length;
    const waitFor = async (pred: () => boolean, what: string): Promise<void> => {
      const t0 = Date.now();
      while (!pred()) {
        if (Date.now() - t0 > 5000) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    try {
      await waitFor(() => synced() >= 1, 'the first sync');
      // A status update (crm_simulate's n2 failure), then back: two more syncs with events.
      for (const [i, next] of [fixture('08-odd-values').replace(/num_updates="(\d+)"/, (_m, n: string) => `num_updates="${Number(n) + 1}"`).replace('<node_state id="n2" uname="n2" in_ccm="true" crmd="online"', '<node_state id="n2" uname="n2" in_ccm="false" crmd="offline"'), xml.replace(/num_updates="(\d+)"/, (_m, n: string) => `num_updates="${Number(n) + 2}"`)].entries()) {
        fs.writeFileSync(cibFile, next);
        await waitFor(() => synced() >= i + 2, `sync ${i + 2}`);
      }
      assert.deepEqual(warnings(lines), EXPECTED);
      assert.equal(lines.filter((l) => l.msg === 'sync failed').length, 0);
      const s = openStore(db, { readonly: true });
      const view = readView(s);
      s.close();
      assert.deepEqual(view?.ips.filter((i) => i.resource === 'vip-c' || i.resource === 'vip6-p64').map((i) => i.address), ['198.18.0.104', '2001:db8::21']);
    } finally {
      ac.abort();
      await done;
      if (saved === undefined) delete process.env['CIB_file']; else process.env['CIB_file'] = saved;
    }
  });

  it('witness-agent sync: succeeds and prints each warning on stderr', async () => {
    const db = path.join(tmp, 'cli.db');
    const main = new URL('../../agent/main.ts', import.meta.url).pathname;
    const env = { ...process.env };
    delete env['CIB_file'];
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', main, 'sync', '--db', db, '--cib-file', fixtureUrl('08-odd-values').pathname, '--shares', 'DATA=g-data'], { env, timeout: 60_000 }, (err, out, errOut) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout: out, stderr: errOut });
      });
    });
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^synced CIB 0\.\d+\.\d+ in [\d.]+ ms: 0 event\(s\)\n$/);
    const logged = stderr.trim().split('\n').map((l) => JSON.parse(l) as LogLine);
    assert.deepEqual(warnings(logged), EXPECTED);
    const s = openStore(db, { readonly: true });
    assert.equal(readView(s)?.ips.length, 9);
    s.close();
  });
});

describe('the demo simulator', () => {
  const opts = (staticIp: string, movingIp: string): SimulationOptions => ({ db: '', nodes: ['demo1', 'demo2'], staticIp, movingIp, share: 'data', intervalMs: 1000, logger: pino({ level: 'silent' }) });
  it('stores its addresses as the agent does, and refuses one no client could use', () => {
    const v = simulatedView(opts('127.0.0.11', '2001:DB8:0::12'), 1, 'demo2');
    assert.deepEqual(v.ips.map((i) => [i.address, i.family]), [['127.0.0.11', 4], ['2001:db8::12', 6]]);
    assert.deepEqual(v.shares[0]?.ips, ['2001:db8::12']);
    assert.throws(() => simulatedView(opts('127.1', '127.0.0.12'), 1, 'demo2'), /^Error: --static-ip "127.1": not a dotted-decimal IPv4 address/);
    assert.throws(() => simulatedView(opts('127.0.0.11', 'fe80::1%lo'), 1, 'demo2'), /--moving-ip "fe80::1%lo": a scoped IPv6 address \(zone %lo\)/);
  });
});
