import { randomBytes } from 'node:crypto';
import type { MsmConfig } from './config';
import { SessionIdError } from './errors';

// MSM's session id: `<base>-<nodeId>[.<jvmRoute>]` (MSM's SessionIdFormat).

/** MSM's "usable id" pattern; anything else is treated as having no node. */
const USABLE = /^[^-.]+-[^.]+(\.[^.]+)?$/;
/**
 * The longest id we accept: the longest key built from it
 * (`bak:` P `validity:` P ID) must stay within memcached's 250 bytes.
 */
export const MAX_ID_LENGTH = 200;
/** Cookie-safe visible ASCII; memcached keys may not hold spaces or controls. */
const SAFE = /^[!#-+\--:<-\[\]-~]+$/;

/** Throws SessionIdError for an id that must not reach memcached at all. */
export function checkSessionId(id: string): void {
  if (id.length === 0) throw new SessionIdError('empty session id');
  if (id.length > MAX_ID_LENGTH) throw new SessionIdError(`session id of ${id.length} characters, over ${MAX_ID_LENGTH}`);
  if (!SAFE.test(id)) throw new SessionIdError(`session id "${printable(id)}" holds characters a session id never has`);
}

export function isUsable(id: string): boolean {
  return USABLE.test(id);
}

/** The node id: after the first `-`, up to the first `.`; none if a `.` comes first. */
export function nodeIdOf(id: string): string | undefined {
  const dash = id.indexOf('-');
  if (dash < 0) return undefined;
  const dot = id.indexOf('.');
  if (dot >= 0 && dot < dash) return undefined;
  const node = id.slice(dash + 1, dot < 0 ? undefined : dot);
  return node === '' ? undefined : node;
}

/** Everything after the first `.`. */
export function jvmRouteOf(id: string): string | undefined {
  const dot = id.indexOf('.');
  return dot < 0 ? undefined : id.slice(dot + 1);
}

/** The id without its node part: `<base>[.<jvmRoute>]`. */
export function stripNodeId(id: string): string {
  const node = nodeIdOf(id);
  if (node === undefined) return id;
  const dash = id.indexOf('-');
  return id.slice(0, dash) + id.slice(dash + 1 + node.length);
}

/** MSM inserts `-nodeId` before the first `.`, or appends it. */
export function createSessionId(baseWithRoute: string, nodeId: string | undefined): string {
  if (nodeId === undefined) return baseWithRoute;
  const dot = baseWithRoute.indexOf('.');
  return dot < 0 ? `${baseWithRoute}-${nodeId}` : `${baseWithRoute.slice(0, dot)}-${nodeId}${baseWithRoute.slice(dot)}`;
}

/** Relocation to another memcached node keeps the jvmRoute. */
export function changeNodeId(id: string, nodeId: string | undefined): string {
  return createSessionId(stripNodeId(id), nodeId);
}

/** Tomcat failover (sticky) replaces the jvmRoute, keeping the node. */
export function changeJvmRoute(id: string, jvmRoute: string | undefined): string {
  const dot = id.indexOf('.');
  const head = dot < 0 ? id : id.slice(0, dot);
  return jvmRoute ? `${head}.${jvmRoute}` : head;
}

/** Tomcat's default: 16 random bytes as 32 upper-case hex characters, then `.jvmRoute`. */
export function newBaseId(jvmRoute?: string): string {
  const base = randomBytes(16).toString('hex').toUpperCase();
  return jvmRoute ? `${base}.${jvmRoute}` : base;
}

function printable(s: string): string {
  const cut = s.length > 60 ? `${s.slice(0, 60)}...` : s;
  return cut.replace(/[^ -~]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

// MSM's key names. P = storageKeyPrefix, ID = the full session id.
export class Keys {
  constructor(private readonly config: MsmConfig) {}
  get prefix(): string {
    return this.config.storagePrefix;
  }
  data(id: string): string {
    return this.prefix + id;
  }
  validity(id: string): string {
    return `validity:${this.prefix}${id}`;
  }
  backupData(id: string): string {
    return `bak:${this.prefix}${id}`;
  }
  /** The prefix appears twice, as MSM builds it (#251). */
  backupValidity(id: string): string {
    return `bak:${this.prefix}validity:${this.prefix}${id}`;
  }
  lock(id: string): string {
    return `lock:${this.prefix}${id}`;
  }
  ping(nodeId: string): string {
    return `${this.prefix}ping-${nodeId}`;
  }
}
