// Where the CIB comes from: the live cluster (cibadmin) or a file (--cib-file / CIB_file), the
// latter for tests and offline use, the same way Pacemaker's own tools honour CIB_file.

import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';

export type CibSourceErrorCode = 'ENOENT_TOOL' | 'CIB_UNAVAILABLE' | 'READ_FAILED';

export class CibSourceError extends Error {
  readonly code: CibSourceErrorCode;
  constructor(code: CibSourceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CibSourceError';
    this.code = code;
  }
}

export interface CibSourceOptions {
  /** Read this file instead of the live CIB. Defaults to $CIB_file when set. */
  cibFile?: string | undefined;
  /** Milliseconds before cibadmin is given up on (default 10 s). */
  timeoutMs?: number;
}

/** The file to read instead of the live CIB, if any. */
export function cibFileFrom(opts: CibSourceOptions): string | undefined {
  const env = process.env['CIB_file'];
  return opts.cibFile ?? (env !== undefined && env !== '' ? env : undefined);
}

/** Reads the whole CIB as XML text. */
export async function readCib(opts: CibSourceOptions = {}): Promise<string> {
  const file = cibFileFrom(opts);
  if (file !== undefined) {
    try {
      return await fs.readFile(file, 'utf8');
    } catch (err) {
      throw new CibSourceError('READ_FAILED', `cannot read CIB file ${file}: ${(err as Error).message}`, { cause: err });
    }
  }
  return new Promise((resolve, reject) => {
    // --local: this node's copy, no round trip to the DC; every node has the same replicated CIB.
    execFile('cibadmin', ['--query', '--local'], { maxBuffer: 256 * 1024 * 1024, timeout: opts.timeoutMs ?? 10_000 }, (err, stdout, stderr) => {
      if (!err) {
        resolve(stdout);
        return;
      }
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new CibSourceError('ENOENT_TOOL', 'cibadmin not found: install pacemaker-cli-utils (and run on a cluster node)', { cause: err }));
        return;
      }
      const why = stderr.trim() || err.message;
      reject(new CibSourceError('CIB_UNAVAILABLE', `cannot query the CIB (is Pacemaker running on this node?): ${why}`, { cause: err }));
    });
  });
}
