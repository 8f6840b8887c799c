// The asking end of cross-node admin requests (witnessctl on one node, the relay on another;
// docs/cross-node-admin.md): write the request as the target node's transient attribute, wait
// for that node's result attribute, read it and delete it.

import { randomBytes } from 'node:crypto';
import { decodeWireResult, REQUEST_ATTR_PREFIX, RESULT_ATTR_PREFIX, type WireRequest, type WireResult } from './wire.ts';
import type { Attrd } from './attrd.ts';

export function newRequestId(): string {
  return randomBytes(8).toString('hex');
}

export class RemoteTimeout extends Error {
  override name = 'RemoteTimeout';
}

/**
 * Sends `req` to `node` and resolves with its answer. On timeout the request attribute is
 * withdrawn (if the node has not taken it yet, it never will) and RemoteTimeout is thrown.
 */
export async function askNode(attrd: Attrd, node: string, req: WireRequest, timeoutMs: number, pollMs = 150): Promise<WireResult> {
  const resultName = `${RESULT_ATTR_PREFIX}${req.id}`;
  await attrd.set(node, `${REQUEST_ATTR_PREFIX}${req.id}`, JSON.stringify(req));
  const t0 = Date.now();
  for (;;) {
    const v = await attrd.get(node, resultName);
    if (v !== null && v !== '') {
      await attrd.remove(node, resultName).catch(() => undefined); // the relay expires it otherwise
      const r = decodeWireResult(v);
      if (r.id !== req.id) throw new Error(`node ${node} answered request ${r.id} under ${resultName}`);
      return r;
    }
    if (Date.now() - t0 > timeoutMs) {
      await attrd.remove(node, `${REQUEST_ATTR_PREFIX}${req.id}`).catch(() => undefined);
      throw new RemoteTimeout(`node ${node} did not answer within ${timeoutMs} ms (is the witness clone running there?)`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
