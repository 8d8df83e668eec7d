import { createHash } from 'node:crypto';
import { SessionConfigError } from './errors';

// MSM's Manager attributes, under MSM's names, checked as MSM checks them
// at start (MemcachedNodesManager.createFor, setLockingMode…).

export interface MemcachedNode {
  id: string | undefined;
  host: string;
  port: number;
}

export type LockingMode =
  | { kind: 'none' }
  | { kind: 'all' }
  | { kind: 'auto' }
  | { kind: 'uriPattern'; pattern: RegExp };

/** What a user writes: the attributes of `<Manager className="…MemcachedBackupSessionManager">`. */
export interface MsmAttributes {
  memcachedNodes: string;
  failoverNodes?: string;
  sticky?: boolean | string;
  lockingMode?: string;
  requestUriIgnorePattern?: string;
  sessionBackupAsync?: boolean | string;
  /** ms */
  sessionBackupTimeout?: number | string;
  /** ms */
  operationTimeout?: number | string;
  /** seconds: the TTL of the lock key */
  lockExpiration?: number | string;
  storageKeyPrefix?: string;
  sessionAttributeFilter?: string;
  /** Tomcat's session-timeout, in seconds (web.xml gives minutes) */
  maxInactiveInterval?: number | string;
  /** the values storageKeyPrefix tokens take */
  host?: string;
  contextPath?: string;
  webappVersion?: string;
  /** msm.nodeAvailabilityCacheTTL, ms */
  nodeAvailabilityCacheTTL?: number | string;
}

export interface MsmConfig {
  nodes: MemcachedNode[];
  /** node ids in configured order, failover nodes left out */
  primaryNodeIds: string[];
  failoverNodeIds: string[];
  /** false when one node is given without an id: no node ids, no backups */
  encodeNodeIdInSessionId: boolean;
  sticky: boolean;
  lockingMode: LockingMode;
  requestUriIgnorePattern: RegExp | undefined;
  sessionBackupAsync: boolean;
  sessionBackupTimeout: number;
  operationTimeout: number;
  lockExpiration: number;
  storagePrefix: string;
  sessionAttributeFilter: RegExp | undefined;
  maxInactiveInterval: number;
  nodeAvailabilityCacheTTL: number;
}

const NODE_ID = /^[A-Za-z0-9_]+$/;
const NODE_ENTRY = /^([A-Za-z0-9_]+):([^\s,:]+):(\d+)$/;
const SINGLE = /^([^\s,:]+):(\d+)$/;

export function parseMemcachedNodes(text: string): MemcachedNode[] {
  const entries = text.trim().split(/[\s,]+/).filter((e) => e !== '');
  if (entries.length === 0) throw new SessionConfigError('memcachedNodes is empty');
  if (entries.length === 1 && SINGLE.test(entries[0])) {
    const [, host, port] = SINGLE.exec(entries[0])!;
    return [{ id: undefined, host, port: checkPort(port, entries[0]) }];
  }
  return entries.map((e) => {
    const m = NODE_ENTRY.exec(e);
    if (!m) throw new SessionConfigError(`invalid memcachedNodes entry "${e}" (expected id:host:port, id matching [A-Za-z0-9_]+)`);
    return { id: m[1], host: m[2], port: checkPort(m[3], e) };
  });
}

function checkPort(p: string, entry: string): number {
  const n = Number(p);
  if (!(n > 0 && n < 65536)) throw new SessionConfigError(`invalid port in memcachedNodes entry "${entry}"`);
  return n;
}

/** A Java regex that must match the whole input (Pattern.matcher().matches()). */
export function wholeMatch(source: string, attr: string): RegExp {
  try {
    return new RegExp(`^(?:${source})$`, 's');
  } catch (e) {
    throw new SessionConfigError(`${attr}: invalid regular expression "${source}": ${(e as Error).message}`);
  }
}

export function parseLockingMode(text: string | undefined): LockingMode {
  if (text === undefined || text === '' || text === 'none') return { kind: 'none' };
  if (text === 'all') return { kind: 'all' };
  if (text === 'auto') return { kind: 'auto' };
  if (text.startsWith('uriPattern:')) return { kind: 'uriPattern', pattern: wholeMatch(text.slice(11), 'lockingMode') };
  throw new SessionConfigError(`lockingMode "${text}": expected none, all, auto or uriPattern:<regex>`);
}

function bool(v: boolean | string | undefined, dflt: boolean, attr: string): boolean {
  if (v === undefined) return dflt;
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new SessionConfigError(`${attr}="${v}": expected true or false`);
}

function num(v: number | string | undefined, dflt: number, attr: string): number {
  if (v === undefined || v === '') return dflt;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n) || !Number.isInteger(n)) throw new SessionConfigError(`${attr}="${v}": expected an integer`);
  return n;
}

/** `.hash` tokens: the first 8 lowercase hex characters of SHA-256. */
function hash8(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex').slice(0, 8);
}

/** storageKeyPrefix tokens, joined with `:` and ended by `_`; nothing left = no prefix. */
export function storagePrefix(spec: string | undefined, a: { host?: string; contextPath?: string; webappVersion?: string }): string {
  const tokens = (spec ?? 'webappVersion').split(',').map((t) => t.trim()).filter((t) => t !== '');
  const parts = tokens.map((t) => {
    if (t.startsWith('static:')) return t.slice(7);
    switch (t) {
      case 'host': return a.host ?? '';
      case 'host.hash': return a.host ? hash8(a.host) : '';
      case 'context': return a.contextPath ?? '';
      case 'context.hash': return a.contextPath ? hash8(a.contextPath) : '';
      case 'webappVersion': return a.webappVersion ?? '';
      default: throw new SessionConfigError(`storageKeyPrefix: unknown token "${t}"`);
    }
  }).filter((p) => p !== '');
  const prefix = parts.length === 0 ? '' : `${parts.join(':')}_`;
  if (/^(lock:|bak:|validity:)/.test(prefix)) throw new SessionConfigError(`storageKeyPrefix "${prefix}" starts with a reserved prefix`);
  return prefix;
}

export function parseMsmConfig(a: MsmAttributes): MsmConfig {
  const nodes = parseMemcachedNodes(a.memcachedNodes);
  const ids = nodes.map((n) => n.id).filter((id): id is string => id !== undefined);
  if (new Set(ids).size !== ids.length) throw new SessionConfigError('memcachedNodes: a node id is given twice');
  const failoverNodeIds = (a.failoverNodes ?? '').split(/[\s,]+/).filter((e) => e !== '');
  for (const f of failoverNodeIds) {
    if (!NODE_ID.test(f) || !ids.includes(f)) throw new SessionConfigError(`failoverNodes: "${f}" is not a node of memcachedNodes`);
  }
  if (failoverNodeIds.length > 0 && nodes.length < 2) throw new SessionConfigError('failoverNodes need more than one memcached node');
  const sticky = bool(a.sticky, true, 'sticky');
  const lockingMode = parseLockingMode(a.lockingMode);
  if (sticky && lockingMode.kind !== 'none') throw new SessionConfigError('lockingMode is only for non-sticky sessions (sticky="false")');
  return {
    nodes,
    primaryNodeIds: ids.filter((id) => !failoverNodeIds.includes(id)),
    failoverNodeIds,
    encodeNodeIdInSessionId: ids.length > 0,
    sticky,
    lockingMode,
    requestUriIgnorePattern: a.requestUriIgnorePattern ? wholeMatch(a.requestUriIgnorePattern, 'requestUriIgnorePattern') : undefined,
    sessionBackupAsync: bool(a.sessionBackupAsync, true, 'sessionBackupAsync'),
    sessionBackupTimeout: num(a.sessionBackupTimeout, 100, 'sessionBackupTimeout'),
    operationTimeout: num(a.operationTimeout, 1000, 'operationTimeout'),
    lockExpiration: Math.max(1, num(a.lockExpiration, 5, 'lockExpiration')),
    storagePrefix: storagePrefix(a.storageKeyPrefix, a),
    sessionAttributeFilter: a.sessionAttributeFilter ? wholeMatch(a.sessionAttributeFilter, 'sessionAttributeFilter') : undefined,
    maxInactiveInterval: num(a.maxInactiveInterval, 1800, 'maxInactiveInterval'),
    nodeAvailabilityCacheTTL: num(a.nodeAvailabilityCacheTTL, 1000, 'nodeAvailabilityCacheTTL'),
  };
}
