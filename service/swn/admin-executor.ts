// Carries out witnessctl's requests on this node's registrations (MS-SWN §3.1.6.2–3.1.6.3 server
// events, like Move-SmbWitnessClient and Samba's `net witness client-move/share-move`).

import type { Logger } from 'pino';
import type { Store } from '../../store/index.ts';
import { finishAdminRequest, pendingAdminRequests, selectorMatches, type AdminRequest } from '../../store/admin-requests.ts';
import type { ClusterView } from '../../store/types.ts';
import { MessageType } from './constants.ts';
import type { IpAddrInfo } from './messages.ts';
import { nodeDestination } from './destination.ts';
import { type WitnessRegistry } from './registry.ts';
import { moveNotification, type Notification } from './notification.ts';

export interface AdminOptions {
  store: Store;
  registry: WitnessRegistry;
  node: string;
  getView: () => ClusterView | null;
  logger: Logger;
}

export class AdminExecutor {
  private readonly opts: AdminOptions;

  constructor(opts: AdminOptions) {
    this.opts = opts;
  }

  /**
   * The destination's addresses (ONLINE): one IP, or for a node its running floating IPs, then its
   * own addresses (service/swn/destination.ts). A node with no floating IP is reached through its
   * own addresses alone: in a single-VIP cluster that is the only way to name the passive node. The
   * admin asked for that node; whether smbd answers there is theirs to know (in
   * docs/deploy-samba.md's recipe, only on the node that holds the group), so it is logged.
   */
  private destination(req: AdminRequest): IpAddrInfo[] {
    if (req.target.ip !== undefined) return [{ address: req.target.ip, online: true }];
    const node = req.target.node ?? '';
    const d = nodeDestination(this.opts.getView(), node);
    if (d.floating.length === 0 && d.nodeAddresses.length > 0) {
      this.opts.logger.warn({ node, addresses: d.nodeAddresses }, 'no floating IP runs on the destination node: clients are sent to its own addresses, which serve SMB only where smbd runs');
    }
    return [...d.floating, ...d.nodeAddresses].map((address) => ({ address, online: true }));
  }

  /** Handles every pending request addressed to this node. */
  pump(): void {
    for (const req of pendingAdminRequests(this.opts.store, this.opts.node)) {
      try {
        const n = this.apply(req);
        finishAdminRequest(this.opts.store, req.seq, true, { registrations: n });
        this.opts.logger.info({ request: req.seq, kind: req.kind, selector: req.selector, target: req.target, registrations: n }, 'admin request carried out');
      } catch (err) {
        finishAdminRequest(this.opts.store, req.seq, false, { error: (err as Error).message });
        this.opts.logger.warn({ request: req.seq, err }, 'admin request failed');
      }
    }
  }

  private apply(req: AdminRequest): number {
    const reg = this.opts.registry;
    const chosen = [...reg.registrations()].filter((r) => selectorMatches(req.selector, r));
    if (req.kind === 'force-unregister') {
      for (const r of chosen) reg.remove(r, 'admin');
      return chosen.length;
    }
    const list = this.destination(req);
    if (list.length === 0) throw new Error(`no IP runs on ${req.target.node ?? req.target.ip ?? '?'} and it offers no address of its own (not online, or its witness publishes none)`);
    const where = req.target.ip ?? req.target.node ?? '';
    let n = 0;
    // One notification per share (or one for every client-move), shared by the registrations it goes to.
    const built = new Map<string, Notification>();
    for (const r of chosen) {
      if (req.kind === 'share-move' && r.shareName === null) continue;
      const key = req.kind === 'share-move' ? (r.shareName ?? '') : '';
      let note = built.get(key);
      if (!note) {
        note = req.kind === 'share-move' ? moveNotification(MessageType.SHARE_MOVE, list, `admin share-move ${key} to ${where}`) : moveNotification(MessageType.CLIENT_MOVE, list, `admin client-move to ${where}`);
        built.set(key, note);
      }
      reg.queueNotification(r, note);
      n++;
    }
    return n;
  }
}
