// Transient node attributes through Pacemaker's attribute manager: the only channel witness nodes
// use to talk to each other (admin requests and their outcomes; docs/cross-node-admin.md).
// Values are written with attrd_updater (no dampening: attrd writes them to the CIB's status
// section at once, which every node receives) and read back from attrd with --output-as=xml.

import { execFile } from 'node:child_process';
import { CibParseError } from '../cib/errors.ts';
import { descendants, readXml } from '../cib/xml.ts';

export interface Attrd {
  set(node: string, name: string, value: string): Promise<void>;
  remove(node: string, name: string): Promise<void>;
  /** The value, or null when the node has no such attribute. */
  get(node: string, name: string): Promise<string | null>;
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], timeoutMs: number): Promise<Ran> {
  return new Promise((resolve) => {
    execFile('attrd_updater', args, { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: unknown; killed?: boolean }) | null;
      const code = e === null ? 0 : typeof e.code === 'number' ? e.code : -1;
      resolve({ code, stdout, stderr: e !== null && code === -1 ? `${e.message} ${stderr}` : stderr });
    });
  });
}

export class AttrdError extends Error {
  override name = 'AttrdError';
}

/** The real attribute manager, through attrd_updater. */
export function attrdUpdater(timeoutMs = 10_000): Attrd {
  return {
    async set(node, name, value) {
      const r = await run(['-N', node, '-n', name, '-U', value], timeoutMs);
      if (r.code !== 0) throw new AttrdError(`attrd_updater -N ${node} -n ${name} -U: exit ${r.code}: ${r.stderr.trim()}`);
    },
    async remove(node, name) {
      const r = await run(['-N', node, '-n', name, '-D'], timeoutMs);
      if (r.code !== 0) throw new AttrdError(`attrd_updater -N ${node} -n ${name} -D: exit ${r.code}: ${r.stderr.trim()}`);
    },
    async get(node, name) {
      const r = await run(['-Q', '-N', node, '-n', name, '--output-as=xml'], timeoutMs);
      // <pacemaker-result …><attribute name="…" value="…" host="…"/><status code="0" …/>; an
      // unknown attribute is a non-zero exit ("No such object") or no <attribute> element.
      if (r.code !== 0 || r.stdout.trim() === '') return null;
      try {
        const a = descendants(readXml(r.stdout, { what: 'attrd_updater output' }), 'attribute')[0]?.attrs;
        return a?.['value'] ?? null;
      } catch (err) {
        if (err instanceof CibParseError) throw new AttrdError(`attrd_updater -Q -N ${node} -n ${name}: ${err.message}`);
        throw err;
      }
    },
  };
}
