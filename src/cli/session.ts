import { decodeSessionData, decodeValidity, isValidAt, type Validity } from '../session/codec';
import { parseMsmConfig } from '../session/config';
import { SessionError } from '../session/errors';
import { Keys } from '../session/session-id';
import { NodeManager } from '../session/nodes';
import type { Console } from '../process/console';
import { checkSessionId, jvmRouteOf, nodeIdOf } from '../session/session-id';

// `nodinx session ID --memcached-nodes "n1:host:port …"`: a session as MSM
// stored it — which node holds it, its validity times, whether its backup
// exists, whether it is locked. Read-only: only `get`s are sent.

export const SESSION_USAGE = `nodinx session ID --memcached-nodes "n1:HOST:PORT n2:HOST:PORT" [--failover-nodes "…"] [--storage-key-prefix SPEC] [--operation-timeout MS] [--json]`;

interface Report {
  id: string;
  node?: { id: string; address: string; up: boolean };
  jvmRoute?: string;
  data?: { key: string; bytes: number; format?: number; creationTime?: string; lastBackupTime?: string; maxInactiveInterval?: number; isNew?: boolean; isValid?: boolean; attributes?: string; error?: string };
  validity?: { key: string; maxInactiveInterval: number; lastAccessedTime: string; thisAccessedTime: string; idleSeconds: number; valid: boolean };
  backup?: { node: string; data: boolean; sameAsData?: boolean; validity: boolean };
  locked?: boolean;
  problems: string[];
}

/** The subcommand with its errors said as nodinx says them. */
export async function sessionMain(argv: string[], out: Console): Promise<number> {
  try {
    return await sessionCommand(argv, (s) => process.stdout.write(s));
  } catch (e) {
    if (!(e instanceof SessionError)) throw e;
    out.error(e.message);
    return 1;
  }
}

const iso = (ms: number): string => new Date(ms).toISOString();

export async function sessionCommand(argv: string[], out: (s: string) => void): Promise<number> {
  let id: string | undefined;
  let nodes: string | undefined;
  let failoverNodes: string | undefined;
  let prefix: string | undefined;
  let timeout = '1000';
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      if (i + 1 >= argv.length) throw new SessionError('SESSION_CONFIG', `option "${a}" requires a value`);
      return argv[++i];
    };
    if (a === '--memcached-nodes') nodes = value();
    else if (a === '--failover-nodes') failoverNodes = value();
    else if (a === '--storage-key-prefix') prefix = value();
    else if (a === '--operation-timeout') timeout = value();
    else if (a === '--json') json = true;
    else if (a.startsWith('-')) throw new SessionError('SESSION_CONFIG', `invalid option: "${a}"`);
    else if (id !== undefined) throw new SessionError('SESSION_CONFIG', `one session id at a time: "${a}"`);
    else id = a;
  }
  if (id === undefined || nodes === undefined) throw new SessionError('SESSION_CONFIG', `usage: ${SESSION_USAGE}`);
  checkSessionId(id);
  const config = parseMsmConfig({ memcachedNodes: nodes, failoverNodes, storageKeyPrefix: prefix, operationTimeout: timeout, sticky: false });
  const manager = new NodeManager(config);
  try {
    const r = await inspect(id, manager, new Keys(config));
    out(json ? `${JSON.stringify(r, null, 2)}\n` : text(r));
    return r.data && !r.data.error ? 0 : 1;
  } finally {
    manager.close();
  }
}

async function inspect(id: string, nodes: NodeManager, keys: Keys): Promise<Report> {
  const r: Report = { id, jvmRoute: jvmRouteOf(id), problems: [] };
  const nodeId = nodes.nodeForSession(id);
  if (nodeId === undefined) {
    const named = nodeIdOf(id);
    r.problems.push(named === undefined ? 'the id names no memcached node: it was never stored' : `the id names node "${named}", which is not in memcachedNodes`);
    return r;
  }
  const node = nodes.config.nodes.find((n) => (n.id ?? '') === nodeId)!;
  const up = await nodes.isAvailable(nodeId);
  r.node = { id: nodeId, address: `${node.host}:${node.port}`, up };
  const c = nodes.client(nodeId);
  let data: Buffer | null = null;
  if (up) {
    try {
      data = await c.get(keys.data(id));
      const vb = await c.get(keys.validity(id));
      const v: Validity | undefined = vb ? decodeValidity(vb) : undefined;
      if (v) {
        const now = Date.now();
        r.validity = {
          key: keys.validity(id), maxInactiveInterval: v.maxInactiveInterval, lastAccessedTime: iso(v.lastAccessedTime),
          thisAccessedTime: iso(v.thisAccessedTime), idleSeconds: Math.floor((now - v.thisAccessedTime) / 1000), valid: isValidAt(v, now),
        };
      }
      r.locked = (await c.get(keys.lock(id))) !== null;
    } catch (e) {
      r.problems.push((e as Error).message);
    }
  } else {
    r.problems.push(`node "${nodeId}" is not available`);
  }
  if (data) {
    r.data = { key: keys.data(id), bytes: data.length };
    try {
      const d = decodeSessionData(data);
      if (!d) throw new Error('not MSM\'s format (too short, or an unknown version)');
      Object.assign(r.data, {
        format: data.readUInt16BE(0), creationTime: iso(d.fields.creationTime), lastBackupTime: iso(d.fields.lastBackupTime),
        maxInactiveInterval: d.fields.maxInactiveInterval, isNew: d.fields.isNew, isValid: d.fields.isValid,
        attributes: d.attributes.toString('utf8'),
      });
    } catch (e) {
      r.data.error = (e as Error).message;
    }
  }
  if (nodes.backupEnabled) {
    const bn = await nodes.nextAvailableNode(nodeId);
    if (bn === undefined) r.problems.push('no other node is available for the backup');
    else {
      try {
        const bc = nodes.client(bn);
        const bd = await bc.get(keys.backupData(id));
        r.backup = { node: bn, data: bd !== null, validity: (await bc.get(keys.backupValidity(id))) !== null };
        if (bd && data) r.backup.sameAsData = bd.equals(data);
      } catch (e) {
        r.problems.push((e as Error).message);
      }
    }
  }
  if (!r.data && r.node?.up) r.problems.push('no session data under this id (expired, invalidated, or never stored)');
  return r;
}

function text(r: Report): string {
  const lines = [`session    ${r.id}`];
  if (r.node) lines.push(`node       ${r.node.id} (${r.node.address}) ${r.node.up ? 'available' : 'NOT available'}`);
  if (r.jvmRoute) lines.push(`jvmRoute   ${r.jvmRoute}`);
  const d = r.data;
  if (d) {
    lines.push(d.error
      ? `data       ${d.key}: ${d.bytes} bytes, unreadable: ${d.error}`
      : `data       ${d.key}: ${d.bytes} bytes, format ${d.format}, created ${d.creationTime}, last written ${d.lastBackupTime}, maxInactiveInterval ${d.maxInactiveInterval} s, isNew ${d.isNew}, isValid ${d.isValid}`);
    if (!d.error) lines.push(`attributes ${d.attributes}`);
  } else lines.push('data       none');
  const v = r.validity;
  lines.push(v
    ? `validity   ${v.key}: lastAccessed ${v.lastAccessedTime}, thisAccessed ${v.thisAccessedTime}, idle ${v.idleSeconds} s of ${v.maxInactiveInterval} s: ${v.valid ? 'valid' : 'EXPIRED'}`
    : 'validity   none');
  if (r.backup) lines.push(`backup     on ${r.backup.node}: data ${r.backup.data ? (r.backup.sameAsData === false ? 'present (differs from the data)' : 'present') : 'missing'}, validity ${r.backup.validity ? 'present' : 'missing'}`);
  if (r.locked !== undefined) lines.push(`lock       ${r.locked ? 'locked' : 'not locked'}`);
  for (const p of r.problems) lines.push(`problem    ${p}`);
  return `${lines.join('\n')}\n`;
}
