// An smbd of the domain member, in the root namespace on a loopback port, that accepts Kerberos for
// the witness NetName (cifs/<NetName> keys from a keytab): what smbtorture's rpc.witness Register,
// RegisterEx and UnRegister tests need besides the witness, since each first lists the server's
// shares over SMB (srvsvc on a named pipe) with the same credentials, here a Kerberos ticket.
//
// It is the member's Samba (security = ads, the member's private dir for its machine account),
// with state, locks, logs and its one share in a temporary directory. Domain users' Unix accounts
// come from the member's winbindd (libwbclient through libnss_wrapper, as wbclientPreloadEnv says),
// but getpwuid() would need libnss_winbind, which the tests do not install: the users named here
// go into nss_wrapper's passwd and group files as `wbinfo -i` / `--gid-info` print them.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Domain } from './domain.ts';

export interface MemberSmbd {
  port: number;
  /** The one share ("data"), read-only. */
  share: string;
  logs(): string;
  stop(): Promise<void>;
}

export interface MemberSmbdOptions {
  port: number;
  /** Kerberos keys smbd accepts tickets with (`kerberos method = dedicated keytab`). */
  keytab: string;
  /** Domain users (DOMAIN\user) who log on to it. */
  users: string[];
}

/** Starts it and waits until it lists its share (anonymously); throws with its log when it does not. */
export async function startMemberSmbd(d: Domain, o: MemberSmbdOptions): Promise<MemberSmbd> {
  const preload = d.wbclientPreloadEnv();
  if (preload === null) throw new Error('libnss-wrapper is needed for a member smbd in the root namespace');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-msmbd-'));
  for (const sub of ['lock', 'state', 'cache', 'pid', 'ncalrpc', 'log', 'share']) fs.mkdirSync(path.join(dir, sub));
  // The users' passwd and group lines, as winbindd maps them (idmap rid: stable).
  const passwd = [fs.readFileSync('/etc/passwd', 'utf8').trimEnd()];
  const group = [fs.readFileSync('/etc/group', 'utf8').trimEnd()];
  for (const u of o.users) {
    const pw = d.wbinfo('-i', u);
    const line = pw.stdout.trim();
    const gid = line.split(':')[3];
    if (pw.code !== 0 || gid === undefined) throw new Error(`wbinfo -i ${u}: ${pw.stdout}${pw.stderr}`);
    passwd.push(line.replace(/:[^:]*:[^:]*$/, `:${path.join(dir, 'share')}:/bin/false`));
    const gr = d.wbinfo('--gid-info', gid);
    if (gr.code === 0 && !group.some((g) => g.split(':')[2] === gid)) group.push(gr.stdout.trim());
  }
  fs.writeFileSync(path.join(dir, 'passwd'), `${passwd.join('\n')}\n`);
  fs.writeFileSync(path.join(dir, 'group'), `${group.join('\n')}\n`);
  // The member's smb.conf with our own places and port; its [global] names, realm and idmap stay.
  const member = fs.readFileSync(d.smbConf, 'utf8');
  const mine: Record<string, string> = {
    'interfaces': 'lo',
    'dedicated keytab file': `FILE:${o.keytab}`,
    'lock directory': path.join(dir, 'lock'),
    'state directory': path.join(dir, 'state'),
    'cache directory': path.join(dir, 'cache'),
    'pid directory': path.join(dir, 'pid'),
    'ncalrpc dir': path.join(dir, 'ncalrpc'),
    'log file': path.join(dir, 'log', '%m.log'),
  };
  const lines = member.split('\n').map((l) => {
    const m = /^\s*([a-z][a-z ]*?)\s*=/.exec(l);
    const key = m?.[1];
    return key !== undefined && key in mine ? `\t${key} = ${mine[key]}` : l;
  });
  const conf = path.join(dir, 'smb.conf');
  fs.writeFileSync(conf, [
    ...lines.filter((l) => !/^\s*$/.test(l)),
    `\tsmb ports = ${o.port}`,
    '[data]',
    `\tpath = ${path.join(dir, 'share')}`,
    '\tread only = yes',
    '',
  ].join('\n'));
  // Its own process group; samba-dcerpcd (started on demand) is found by the config file at stop().
  const env = { ...process.env, ...preload, NSS_WRAPPER_PASSWD: path.join(dir, 'passwd'), NSS_WRAPPER_GROUP: path.join(dir, 'group'), KRB5_CONFIG: d.krb5Conf };
  const p = spawn('smbd', ['--foreground', '--no-process-group', `--configfile=${conf}`], { detached: true, stdio: 'ignore', env });
  const logs = (): string => {
    try {
      return fs.readdirSync(path.join(dir, 'log')).filter((f) => f.endsWith('.log')).map((f) => fs.readFileSync(path.join(dir, 'log', f), 'utf8').slice(-3000)).join('\n');
    } catch {
      return '';
    }
  };
  const stop = async (): Promise<void> => {
    for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
      try {
        if (p.pid !== undefined) process.kill(-p.pid, sig);
      } catch {
        // gone
      }
      if (sig === 'SIGTERM') await new Promise((r) => setTimeout(r, 500));
    }
    spawnSync('pkill', ['-KILL', '-f', `configfile=${conf}`]);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const t0 = Date.now();
  for (;;) {
    const r = spawnSync('smbclient', ['-N', '-L', '127.0.0.1', '-p', String(o.port)], { encoding: 'utf8', timeout: 5000 });
    if (/\bdata\s+Disk/.test(r.stdout)) break;
    if (p.exitCode !== null || Date.now() - t0 > 20_000) {
      const why = `member smbd ${p.exitCode !== null ? `exited (${p.exitCode})` : 'did not start'}:\n${logs()}`;
      await stop();
      throw new Error(why);
    }
    await new Promise((res) => setTimeout(res, 200));
  }
  return { port: o.port, share: 'data', logs, stop };
}
