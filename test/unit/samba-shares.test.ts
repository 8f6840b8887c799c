// agent/testparm.ts and the path → Filesystem mapping of agent/samba-shares.ts, on testparm output
// captured from Debian's testparm (test/fixtures/samba-conf/capture.sh).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { normalizePath, parseTestparm, sharesOf, unquotePath } from '../../agent/testparm.ts';
import { filesystemsOf, NO_RESOURCE, ownerOf, shareMapWith, type SambaCatalogue } from '../../agent/samba-shares.ts';
import { diffViews } from '../../agent/diff.ts';
import type { CibPrimitive, CibResource } from '../../agent/cib/types.ts';
import { view } from '../helpers/views.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FIXTURES = path.join(ROOT, 'test/fixtures/samba-conf');
const odd = fs.readFileSync(path.join(FIXTURES, 'odd.testparm.txt'), 'utf8');

function prim(id: string, type: string, params: Record<string, string> = {}): CibPrimitive {
  return { kind: 'primitive', id, cls: 'ocf', provider: 'heartbeat', type, params, meta: {} };
}

/** A file server's resources: g-one (fs1 + its IP), fs2 alone, a deeper file system in g-deep, a cloned one. */
const RESOURCES: CibResource[] = [
  { kind: 'group', id: 'g-one', children: [prim('fs1', 'Filesystem', { device: '/dev/vdb', directory: '/srv/fs1/', fstype: 'xfs' }), prim('vip1', 'IPaddr2', { ip: '198.18.0.100' })], meta: {} },
  prim('fs2', 'Filesystem', { device: '/dev/vdc', directory: '/srv//fs2' }),
  { kind: 'group', id: 'g-deep', children: [prim('fs-projects', 'Filesystem', { device: 'nfs:/p', directory: '/srv/fs1/projects dir' })], meta: {} },
  { kind: 'clone', id: 'gfs-clone', child: prim('gfs', 'Filesystem', { device: '/dev/vdd', directory: '/srv/gfs' }), meta: {} },
  prim('root', 'Filesystem', { device: '/dev/vde', directory: '/' }),
  prim('dummy', 'Dummy', { directory: '/var/local' }),
];

describe('testparm -s output', () => {
  it('reads every section and parameter, names lower-cased, values as printed', () => {
    const sections = parseTestparm(odd);
    assert.deepEqual(sections.map((s) => s.name), ['global', 'Projects', 'scratch', 'Retired', 'local', 'homes', 'printers', 'print$', 'IPC$', 'Included']);
    const g = sections[0]?.params;
    assert.equal(g?.get('idmap config * : backend'), 'tdb');
    assert.equal(g?.get('workgroup'), 'PWTEST');
    assert.equal(sections[1]?.params.get('path'), '"/srv/fs1/projects dir/"');
  });

  it('the shares clients can use: no [global], IPC$, printers or unavailable share; [homes] flagged; paths unquoted and normalized; an include\'s share and a case-insensitive merge as Samba loaded them', () => {
    const shares = sharesOf(parseTestparm(odd));
    assert.deepEqual(shares.map((s) => [s.name, s.path, s.fixedDir, s.homes]), [
      ['Projects', '/srv/fs1/projects dir/', '/srv/fs1/projects dir', false],
      ['scratch', '/srv//fs1/./scratch//', '/srv/fs1/scratch', false],
      ['local', '/var/local/share', '/var/local/share', false],
      ['homes', '/srv/fs2/home/%S', '/srv/fs2/home', true],
      ['print$', '/var/lib/samba/printers', '/var/lib/samba/printers', false],
      ['Included', '/srv/fs2/included', '/srv/fs2/included', false],
    ]);
  });

  it('sections and parameters any way written: case-insensitive section merge, blanks in names, no path, odd lines', () => {
    const shares = sharesOf(parseTestparm('[Data]\n\tPath = /a\nnot a parameter\n[DATA]\n  Read   Only = no\n[nopath]\n\tcomment = x\n[off]\n\tpath = /b\n\tavailable = false\n[q]\n\tprint ok = yes\n'));
    assert.deepEqual(shares.map((s) => [s.name, s.path]), [['Data', '/a'], ['nopath', null]]);
    assert.equal(parseTestparm('[Data]\n\tRead   Only = no\n')[0]?.params.get('read only'), 'no');
  });

  it('quotes as smbd strips them (both ends; a quote left inside keeps the value as written)', () => {
    assert.equal(unquotePath('"/srv/a b"'), '/srv/a b');
    assert.equal(unquotePath('""/srv/x""'), '/srv/x');
    assert.equal(unquotePath('"/srv/a"b"'), '"/srv/a"b"');
    assert.equal(unquotePath('/srv/plain'), '/srv/plain');
  });

  it('paths normalized lexically; relative ones refused', () => {
    assert.equal(normalizePath('/srv//fs1/./a/../b/'), '/srv/fs1/b');
    assert.equal(normalizePath('/'), '/');
    assert.equal(normalizePath('/..'), '/');
    assert.equal(normalizePath('srv/a'), null);
  });
});

describe('path → Filesystem resource', () => {
  const fss = filesystemsOf(RESOURCES);

  it('Filesystem primitives with their directories and what a share under them follows (clone, group, primitive); not one mounted on /', () => {
    assert.deepEqual(fss, [
      { dir: '/srv/fs1', owner: 'g-one' },
      { dir: '/srv/fs2', owner: 'fs2' },
      { dir: '/srv/fs1/projects dir', owner: 'g-deep' },
      { dir: '/srv/gfs', owner: 'gfs-clone' },
    ]);
  });

  it('the deepest directory that holds the path, by whole components', () => {
    assert.equal(ownerOf('/srv/fs1', fss), 'g-one');
    assert.equal(ownerOf('/srv/fs1/data', fss), 'g-one');
    assert.equal(ownerOf('/srv/fs1/projects dir/x', fss), 'g-deep');
    assert.equal(ownerOf('/srv/fs10/data', fss), null);
    assert.equal(ownerOf('/srv', fss), null);
  });

  it('the share map: every Samba share, mapped or following no resource; the explicit map overrides by name, any case', () => {
    const catalogue: SambaCatalogue = { smbConf: '/x', shares: sharesOf(parseTestparm(odd)) };
    assert.deepEqual([...shareMapWith(new Map(), catalogue, RESOURCES)], [
      ['Projects', 'g-deep'], ['scratch', 'g-one'], ['local', NO_RESOURCE], ['homes', 'fs2'], ['print$', NO_RESOURCE], ['Included', 'fs2'],
    ]);
    const withMap = shareMapWith(new Map([['SCRATCH', 'g-other'], ['extra', 'g-x']]), catalogue, RESOURCES);
    assert.deepEqual([...withMap], [
      ['SCRATCH', 'g-other'], ['extra', 'g-x'], ['Projects', 'g-deep'], ['local', NO_RESOURCE], ['homes', 'fs2'], ['print$', NO_RESOURCE], ['Included', 'fs2'],
    ]);
  });

  it('no share on cluster storage (Debian\'s default smb.conf), or no configuration: the explicit map alone', () => {
    const debian: SambaCatalogue = { smbConf: '/x', shares: sharesOf(parseTestparm('[global]\n\tworkgroup = W\n[homes]\n\tbrowseable = No\n[printers]\n\tpath = /var/tmp\n\tprintable = Yes\n[print$]\n\tpath = /var/lib/samba/printers\n')) };
    assert.deepEqual(debian.shares.map((s) => s.name), ['homes', 'print$']);
    assert.deepEqual([...shareMapWith(new Map([['a', 'b']]), debian, RESOURCES)], [['a', 'b']]);
    assert.deepEqual([...shareMapWith(new Map(), null, RESOURCES)], []);
  });
});

describe('shares coming and going', () => {
  it('share_added and share_removed beside share_moved', () => {
    const a = view(1, { shares: [{ name: 'old', resource: 'g1', node: 'n1', ips: ['198.18.0.100'] }, { name: 'kept', resource: 'g1', node: 'n1', ips: [] }] });
    const b = view(2, { shares: [{ name: 'kept', resource: 'g1', node: 'n2', ips: [] }, { name: 'new', resource: NO_RESOURCE, node: null, ips: [] }] });
    assert.deepEqual(diffViews(a, b).map((e) => `${e.kind} ${e.subject} ${e.from ?? '-'}>${e.to ?? '-'}`), ['share_removed old n1>-', 'share_added new ->-', 'share_moved kept n1>n2']);
  });
});

describe('the OCF agent\'s samba_shares parameter', () => {
  const ocf = (action: string, env: Record<string, string>): { code: number | null; out: string } => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'ocf/witnessd-main.ts'), action], {
      encoding: 'utf8',
      cwd: ROOT,
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', OCF_ROOT: '/usr/lib/ocf', OCF_RESOURCE_INSTANCE: 'witness_t', OCF_RESKEY_netname: 'FILESRV', OCF_RESKEY_auth: 'none', HA_RSCTMP: os.tmpdir(), ...env },
    });
    return { code: r.status, out: r.stdout + r.stderr };
  };
  it('is in the meta-data with its default, and must be off or an absolute path (OCF_ERR_CONFIGURED)', () => {
    assert.match(ocf('meta-data', {}).out, /<parameter name="samba_shares">[\s\S]*?<content type="string" default="\/etc\/samba\/smb\.conf"\/>/);
    const bad = ocf('validate-all', { OCF_RESKEY_samba_shares: 'smb.conf' });
    assert.equal(bad.code, 6, bad.out);
    assert.match(bad.out, /samba_shares must be off or an absolute path/);
  });
});
