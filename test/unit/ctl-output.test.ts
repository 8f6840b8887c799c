// witnessctl's defences against what clients choose: the escaping of names in human output (each
// class of character a terminal would act on, readability, unambiguity), JSON output that stays
// exact, list patterns that cannot run away (end to end through service/ctl/main.ts on a store
// holding such names), and --to-ip checked against the cluster view.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { escapeOr, escapePrincipal, escapeText, inertText, safeJson } from '../../service/ctl/escape.ts';
import { checkTargetIp } from '../../service/ctl/target.ts';
import { canonicalAddress } from '../../store/address.ts';
import { takeListAnswer } from '../../service/ctl/list-answer.ts';
import { compileGlob } from '../../store/patterns.ts';
import { openStore } from '../../store/index.ts';
import { setWitnessNode } from '../../store/admin-requests.ts';
import { writeRegistrationChanges, type RegistrationRow } from '../../store/registrations.ts';
import type { ClusterView, IpView } from '../../store/types.ts';
import { commitSync } from '../../store/view.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Reads escapeText's output back; throws on anything escapeText would not write. */
function unescape(s: string): string {
  return s.replace(/\\(?:x([0-9a-f]{2})|u([0-9a-f]{4})|(.))/gs, (_all, x?: string, u?: string, c?: string) => {
    if (x !== undefined) return String.fromCharCode(parseInt(x, 16));
    if (u !== undefined) return String.fromCharCode(parseInt(u, 16));
    const named: Record<string, string> = { '\\': '\\', n: '\n', r: '\r', t: '\t' };
    const v = named[c ?? ''];
    if (v === undefined) throw new Error(`unknown escape \\${c ?? ''}`);
    return v;
  });
}

/** What must never reach a terminal raw, by code unit, listed independently of the implementation. */
function unsafeUnit(s: string, i: number): boolean {
  const u = s.charCodeAt(i);
  if (u <= 0x1f || (u >= 0x7f && u <= 0x9f)) return true; // C0, DEL, C1
  if (u === 0x061c || u === 0x200e || u === 0x200f || (u >= 0x202a && u <= 0x202e) || (u >= 0x2066 && u <= 0x2069)) return true; // bidi
  if (u === 0x2028 || u === 0x2029) return true; // line/paragraph separator
  if (u >= 0xd800 && u <= 0xdbff) return !(s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff);
  if (u >= 0xdc00 && u <= 0xdfff) return !(s.charCodeAt(i - 1) >= 0xd800 && s.charCodeAt(i - 1) <= 0xdbff);
  return false;
}
const hasUnsafe = (s: string): boolean => [...Array(s.length).keys()].some((i) => unsafeUnit(s, i));

/** Any UTF-16 string, lone surrogates included. */
const anyString = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 40 });

describe('escaping client-chosen strings', () => {
  it('each class of character a terminal would act on is shown as an escape', () => {
    for (const [raw, shown] of [
      ['a\nb', 'a\\nb'],
      ['a\rb', 'a\\rb'],
      ['a\tb', 'a\\tb'],
      ['\x00', '\\x00'],
      ['\x07', '\\x07'],
      ['\x1b[31mred\x1b[0m', '\\x1b[31mred\\x1b[0m'],
      ['\x1b]0;title\x07', '\\x1b]0;title\\x07'],
      ['\x7f', '\\x7f'],
      ['\x85', '\\x85'], // NEL
      ['\x9b2J', '\\x9b2J'], // 8-bit CSI
      ['\u202a\u202b\u202c\u202d\u202e', '\\u202a\\u202b\\u202c\\u202d\\u202e'],
      ['\u2066\u2067\u2068\u2069', '\\u2066\\u2067\\u2068\\u2069'],
      ['\u200e\u200f\u061c', '\\u200e\\u200f\\u061c'],
      ['\u2028\u2029', '\\u2028\\u2029'],
      ['\u200b\u2060\ufeff', '\\u200b\\u2060\\ufeff'],
      ['\ud800x', '\\ud800x'],
      ['x\udc00', 'x\\udc00'],
      ['DOMAIN\\alice', 'DOMAIN\\\\alice'],
      ['\\x1b', '\\\\x1b'], // the text "\x1b" is not the character
    ] as [string, string][]) assert.equal(escapeText(raw), shown, JSON.stringify(raw));
  });

  it('letters of every script, punctuation, emoji and ZWJ sequences are left as they are', () => {
    for (const s of ['lister', 'Élodie-PC', 'café', '日本のPC', 'Ωμέγα', 'مرحبا', 'שלום', '😀', '👩\u200d💻', 'a b "c" [d] {e}', '']) assert.equal(escapeText(s), s);
    assert.equal(escapeOr(null), '-');
    assert.equal(escapeOr(undefined, '?'), '?');
    assert.equal(escapeOr('a\nb'), 'a\\nb');
  });

  it('the output never holds a character a terminal acts on, and reads back to the value', () => {
    fc.assert(
      fc.property(anyString, (s) => {
        const e = escapeText(s);
        assert.equal(hasUnsafe(e), false, JSON.stringify(e));
        assert.equal(unescape(e), s);
      }),
      { numRuns: 5000, seed: 7 },
    );
  });

  it('inertText (whole messages): the same escapes, a backslash left readable', () => {
    assert.equal(inertText('give the account as DOMAIN\\user'), 'give the account as DOMAIN\\user');
    assert.equal(inertText('n2\x1b[2J: no\nway\u202e'), 'n2\\x1b[2J: no\\nway\\u202e');
    fc.assert(fc.property(anyString, (s) => { assert.equal(hasUnsafe(inertText(s)), false); }), { numRuns: 2000, seed: 3 });
  });

  it('safeJson is JSON for exactly the same value, with nothing raw a terminal acts on', () => {
    const v = { clientName: 'evil\n\x1b[2J\u202egnp.exe\x85\x7f\\', n: 1, none: null };
    assert.deepEqual(JSON.parse(safeJson(v)), v);
    assert.equal(safeJson(v), '{"clientName":"evil\\n\\u001b[2J\\u202egnp.exe\\u0085\\u007f\\\\","n":1,"none":null}');
    fc.assert(
      fc.property(fc.array(anyString, { maxLength: 4 }), (a) => {
        const j = safeJson({ a });
        assert.equal(hasUnsafe(j), false);
        assert.deepEqual(JSON.parse(j), { a });
      }),
      { numRuns: 2000, seed: 11 },
    );
  });
});

function ip(address: string, node: string | null): IpView {
  return { resource: `vip-${address}`, agent: 'ocf:heartbeat:IPaddr2', group: null, clone: null, address, family: address.includes(':') ? 6 : 4, prefix: 24, node, started: node !== null, failed: false };
}

function view(): ClusterView {
  return {
    cib: { adminEpoch: 0, epoch: 1, numUpdates: 0 },
    dc: 'n1',
    nodes: [{ name: 'n1', id: '1', state: 'online', addresses: ['192.0.2.21'] }, { name: 'n2', id: '2', state: 'online' }],
    ips: [ip('192.0.2.10', 'n1'), ip('192.0.2.11', 'n2'), ip('192.0.2.12', null), ip('2001:db8::10', 'n2')],
    shares: [{ name: 'data', resource: 'g1', node: 'n1', ips: ['192.0.2.10'] }],
    witness: [{ node: 'n1', resource: 'witness:0', started: true }],
  };
}

describe('--to-ip against the cluster view', () => {
  it('an address the CIB knows (floating, a share\'s, a node\'s own), on any node or none, is taken (in the view\'s spelling)', () => {
    assert.deepEqual(checkTargetIp('192.0.2.11', view(), false), { address: '192.0.2.11', warning: null });
    assert.deepEqual(checkTargetIp('192.0.2.12', view(), false), { address: '192.0.2.12', warning: null }, 'stopped, but configured');
    assert.deepEqual(checkTargetIp('2001:DB8:0::10', view(), false), { address: '2001:db8::10', warning: null });
    assert.deepEqual(checkTargetIp('192.0.2.21', view(), false), { address: '192.0.2.21', warning: null }, 'a node\'s own address');
    assert.equal(canonicalAddress('2001:DB8:0:0::1'), '2001:db8::1');
    assert.equal(canonicalAddress('nonsense'), null);
  });

  it('an unknown address is refused with its name, unless forced (then a warning); not an address is always refused', () => {
    assert.throws(() => checkTargetIp('192.0.2.99', view(), false), /--to-ip 192\.0\.2\.99 is not an address of this cluster \(the cluster knows 192\.0\.2\.10, 192\.0\.2\.11, 192\.0\.2\.12, 2001:db8::10, 192\.0\.2\.21\).*--force/);
    const forced = checkTargetIp('192.0.2.99', view(), true);
    assert.equal(forced.address, '192.0.2.99');
    assert.match(forced.warning ?? '', /192\.0\.2\.99 is not an address of this cluster.*sending it anyway \(--force\)/);
    assert.throws(() => checkTargetIp('192.0.2.99', null, false), /no cluster view in the store yet/);
    for (const force of [false, true]) assert.throws(() => checkTargetIp('fileserver', view(), force), /--to-ip fileserver: not an IP address/);
    assert.throws(() => checkTargetIp('fe80::1%eth0', view(), true), /--to-ip fe80::1%eth0: a scoped IPv6 address/, 'store/address.ts decides what an address is');
    assert.equal(checkTargetIp('2001:DB8::99', view(), true).address, '2001:db8::99', 'forced: sent in canonical form');
  });
});

describe('list --all-nodes: another node\'s answer', () => {
  const r = (clientName: string): RegistrationRow => ({ key: clientName, node: 'n2', pid: 1, version: 0x20000, netName: 'FILESRV', shareName: null, ipAddress: '192.0.2.11', clientName, flags: 0, keepAlive: 60, association: 1, remote: 'r', local: 'l', identity: null, createdAt: 1, lastUse: 1, pending: true, notificationsSent: 0, removedAt: null, removedReason: null });
  const f = { client: compileGlob('admin-*') };

  it('a node that applied the globs: its rows as sent, a note when it holds more', () => {
    assert.deepEqual(takeListAnswer({ node: 'n2', state: 'done', result: { registrations: 1, rows: [r('admin-a')], truncated: false, patterns: 'glob' } }, f, true), { rows: [r('admin-a')], notes: [], failed: false });
    const capped = takeListAnswer({ node: 'n2', state: 'done', result: { registrations: 300, rows: [r('admin-a')], truncated: true, patterns: 'glob' } }, f, true);
    assert.deepEqual(capped.notes, ['n2 holds 300 matching registrations; 1 shown (run witnessctl list on n2 for all)']);
  });

  it('an older node ignored the globs and sent everything: filtered here, and said so', () => {
    const t = takeListAnswer({ node: 'n3', state: 'done', result: { registrations: 2, rows: [r('admin-a'), r('other')], truncated: false } }, f, true);
    assert.deepEqual(t.rows.map((x) => x.clientName), ['admin-a']);
    assert.deepEqual(t.notes, ['n3 runs an older witness that does not take glob patterns: it sent 2 of its 2 registrations unfiltered, 1 of them match here']);
    assert.equal(t.failed, false);
    // Without patterns nothing was asked of it: old and new answers are the same.
    assert.deepEqual(takeListAnswer({ node: 'n3', state: 'done', result: { registrations: 2, rows: [r('admin-a'), r('other')], truncated: false } }, {}, false).rows.length, 2);
  });

  it('a refusal or no answer fails that node; malformed rows are dropped', () => {
    assert.deepEqual(takeListAnswer({ node: 'n2', state: 'done', result: { error: 'n2 takes glob patterns, not regular expressions' } }, f, true), { rows: [], notes: ['n2: n2 takes glob patterns, not regular expressions'], failed: true });
    assert.equal(takeListAnswer({ node: 'n2', state: 'unreachable', result: { error: 'timeout' } }, f, true).failed, true);
    assert.deepEqual(takeListAnswer({ node: 'n2', state: 'done', result: { registrations: 3, rows: [r('admin-a'), { clientName: 7 }, null], truncated: false, patterns: 'glob' } }, f, true).rows, [r('admin-a')]);
  });
});

describe('witnessctl (service/ctl/main.ts) on a store holding hostile names', () => {
  let dir = '';
  let db = '';
  const EVIL = 'evil\n\x1b[31mred\x1b]0;pwned\x07\u202egnp.exe\x85\\x';
  const LONG = 'a'.repeat(10_000);
  function row(key: string, clientName: string, over: Partial<RegistrationRow> = {}): RegistrationRow {
    return { key, node: 'n1', pid: 1, version: 0x20000, netName: 'FILESRV', shareName: null, ipAddress: '192.0.2.10', clientName, flags: 0, keepAlive: 60, association: 1, remote: '127.0.0.1:5000', local: '127.0.0.1:1', identity: null, createdAt: 1_700_000_000_000, lastUse: 1, pending: true, notificationsSent: 0, removedAt: null, removedReason: null, ...over };
  }
  const ctl = (...args: string[]): { code: number; out: string; err: string; ms: number } => {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'service/ctl/main.ts'), ...args, '--db', db], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    return { code: r.status ?? -1, out: r.stdout, err: r.stderr, ms: Date.now() - t0 };
  };

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-ctl-'));
    db = path.join(dir, 'state.db');
    const s = openStore(db);
    commitSync(s, view(), () => [{ kind: 'share_moved', subject: 'da\x1b[2Jta', from: 'n1', to: 'n2\u202e', payload: {} }]);
    setWitnessNode(s, 'n1');
    writeRegistrationChanges(s, {
      upserts: [row('k1', EVIL, { netName: 'NET\x1b[0m', shareName: 'sh\nare', identity: 'DOM\\us\x9ber' }), row('k2', LONG), row('k3', 'plain')],
      removals: [],
      notifications: [{ registration: 'k1', clientName: EVIL, node: 'n1', type: 1, summary: 'admin share-move sh\nare to 192.0.2.11', eventSeq: null, eventAt: null, sentAt: 1_700_000_000_000, latencyMs: 3, outcome: 'delivered' }],
    });
    s.close();
  });
  after(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  it('list: one line per registration, names escaped; --json has the exact values', () => {
    const r = ctl('list');
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.split('\n').length, 4, 'three lines and the final newline: no forged line');
    assert.equal(hasUnsafe(r.out.replace(/\n/g, '')), false);
    assert.ok(r.out.includes('k1  evil\\n\\x1b[31mred\\x1b]0;pwned\\x07\\u202egnp.exe\\x85\\\\x  net=NET\\x1b[0m share=sh\\nare '), r.out);
    assert.ok(r.out.includes(' user=DOM\\us\\x9ber '), r.out); // the principal's separator shown as one backslash
    const rows = JSON.parse(ctl('list', '--json').out) as RegistrationRow[];
    assert.deepEqual(rows.map((x) => [x.clientName, x.netName, x.shareName, x.identity]), [[EVIL, 'NET\x1b[0m', 'sh\nare', 'DOM\\us\x9ber'], [LONG, 'FILESRV', null, null], ['plain', 'FILESRV', null, null]]);
    assert.equal(hasUnsafe(ctl('list', '--json').out.trimEnd()), false, 'nothing raw in the JSON text either');
  });

  it('audit and events: names escaped', () => {
    const audit = ctl('audit');
    assert.equal(audit.out.split('\n').length, 2, audit.out);
    assert.match(audit.out, / evil\\n\\x1b\[31mred.* RESOURCE_CHANGE "admin share-move sh\\nare to 192\.0\.2\.11" .* delivered \(witness n1, user DOM\\us\\x9ber\)/);
    const events = ctl('events');
    assert.equal(events.out.split('\n').length, 2, events.out);
    assert.match(events.out, /share_moved da\\x1b\[2Jta n1 -> n2\\u202e/);
    assert.deepEqual((JSON.parse(ctl('audit', '--json').out) as { clientName: string }[]).map((a) => a.clientName), [EVIL]);
  });

  it('list selections are globs: exact names, wildcards, and pathological patterns answered promptly', () => {
    assert.match(ctl('list', '--client', 'PLAIN').out, /^k3 {2}plain /);
    assert.equal(ctl('list', '--client', 'pla').out, 'no registrations\n', 'the whole name, not a substring');
    assert.match(ctl('list', '--client', 'evil?*').out, /^k1 /);
    assert.match(ctl('list', '--user', 'dom\\*').out, /^k1 /, 'a backslash is literal');
    const baseline = ctl('list', '--client', 'nobody');
    for (const pattern of ['*a*a*a*a*a*a*a*b', '(a+)+$', `${'*a'.repeat(127)}b`]) {
      const r = ctl('list', '--client', pattern);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, 'no registrations\n');
      // A start-up of node and tsx each time; a runaway match would take minutes.
      assert.ok(r.ms < baseline.ms + 2000, `${pattern.slice(0, 30)}: ${r.ms} ms (baseline ${baseline.ms} ms)`);
    }
    assert.match(ctl('list', '--client', '*a*a*a*a*a*a*a*a').out, /^k2 {2}a{10000} /);
    const regexish = ctl('list', '--client', '^plain$');
    assert.equal(regexish.out, 'no registrations\n');
    assert.match(regexish.err, /--client takes a glob \(\* \? \[\.\.\.\]\), not a regular expression: \^plain\$ is matched as written/);
    const tooLong = ctl('list', '--client', 'a'.repeat(257));
    assert.equal(tooLong.code, 1);
    assert.match(tooLong.err, /--client: pattern of 257 characters; at most 256 are taken/);
  });

  it('--to-ip: an address the cluster does not serve is refused, named (escaped); --force sends it with a warning', () => {
    for (const cmd of [['client-move', '--client', 'plain'], ['share-move', '--share', 'data']]) {
      const refused = ctl(...cmd, '--to-ip', '192.0.2.99', '--wait-ms', '100');
      assert.equal(refused.code, 1);
      assert.match(refused.err, /^witnessctl: --to-ip 192\.0\.2\.99 is not an address of this cluster .*give --force to send it anyway\n$/);
      const hostile = ctl(...cmd, '--to-ip', '192.0.2.99\x1b[2J', '--wait-ms', '100');
      assert.equal(hostile.err, 'witnessctl: --to-ip 192.0.2.99\\x1b[2J: not an IP address\n');
    }
    // Forced: the request is written for this node's witnessd (none runs here, so it is not carried out).
    const forced = ctl('client-move', '--client', 'plain', '--to-ip', '192.0.2.99', '--force', '--wait-ms', '100');
    assert.match(forced.err, /^witnessctl: warning: --to-ip 192\.0\.2\.99 is not an address of this cluster .*sending it anyway \(--force\)\n/);
    assert.match(forced.out, /^n1 \(request #\d+\): unreachable /);
    const s = openStore(db, { readonly: true });
    try {
      const targets = (s.db.prepare('SELECT target FROM admin_requests').all() as { target: string }[]).map((x) => JSON.parse(x.target) as unknown);
      assert.deepEqual(targets, [{ ip: '192.0.2.99' }]);
    } finally {
      s.close();
    }
  });
});

describe('escapePrincipal', () => {
  it('shows DOMAIN\\user with one backslash, each part escaped', () => {
    assert.equal(escapePrincipal('WORKGROUP\\alice'), 'WORKGROUP\\alice');
    assert.equal(escapePrincipal('WG\\al\nice'), 'WG\\al\\nice');
    assert.equal(escapePrincipal('WG\\a\\b'), 'WG\\a\\\\b');
    assert.equal(escapePrincipal('alice'), 'alice');
    assert.equal(escapePrincipal(null), '-');
  });
});
