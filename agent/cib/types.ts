// The CIB as typed data, the shape placement reads: nodes, resources, node states and their
// operation history. agent/cib/parse.ts reads the configuration into it, agent/cib/status-scan.ts
// the status section.

import type { CibVersion } from '../../store/types.ts';

export interface CibNode {
  id: string;
  uname: string;
  type: string;
  /** instance_attributes of the node (permanent attributes such as standby). */
  attributes: Record<string, string>;
}

export interface CibPrimitive {
  kind: 'primitive';
  id: string;
  /** ocf, lsb, systemd, stonith, service, ... */
  cls: string;
  provider: string | null;
  type: string;
  params: Record<string, string>;
  meta: Record<string, string>;
}

export interface CibGroup {
  kind: 'group';
  id: string;
  children: CibPrimitive[];
  meta: Record<string, string>;
}

export interface CibClone {
  kind: 'clone';
  id: string;
  /** `master` elements (the old promotable syntax) are read as clones too. */
  child: CibPrimitive | CibGroup | null;
  meta: Record<string, string>;
}

export interface CibBundle {
  kind: 'bundle';
  id: string;
  child: CibPrimitive | null;
}

export type CibResource = CibPrimitive | CibGroup | CibClone | CibBundle;

export interface LrmOp {
  id: string;
  operationKey: string;
  operation: string;
  rc: number;
  /** 0 done, -1 pending (in flight), others: execution errors (timeout, not installed, ...). */
  opStatus: number;
  interval: number;
  callId: number;
  lastRcChange: number;
}

export interface LrmResource {
  /** As the status section names it: primitive id, or id:N for unique clone instances. */
  id: string;
  cls: string;
  provider: string | null;
  type: string;
  ops: LrmOp[];
}

export interface CibNodeState {
  id: string;
  uname: string;
  /** in_ccm: "true"/"false" (Pacemaker ≤ 2.1) or a timestamp (later versions). */
  inCcm: boolean;
  /** crmd: "online"/"offline" or a timestamp. */
  crmdOnline: boolean;
  join: string;
  expected: string;
  origin: string;
  /** Transient attributes (status section). */
  attributes: Record<string, string>;
  resources: LrmResource[];
}

export interface Cib {
  version: CibVersion;
  dcUuid: string | null;
  haveQuorum: boolean;
  properties: Record<string, string>;
  nodes: CibNode[];
  resources: CibResource[];
  status: CibNodeState[];
}

/**
 * Decides which primitives' operation history to keep, given the configured resources. A real
 * status section holds every resource's probe result on every node (32 nodes × 1,000 resources
 * is 18 MB of XML); the witness needs only its IPs, shares and its own clone.
 */
export type StatusFilter = (resources: readonly CibResource[]) => ReadonlySet<string>;
