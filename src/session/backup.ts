import { decodeSessionData, decodeValidity, encodeValidity, isValidAt, type AttributesTranscoder, type Validity } from './codec';
import type { Keys } from './session-id';
import type { NodeManager } from './nodes';
import { MsmSession } from './session';
import { changeNodeId } from './session-id';

// Secondary copies (non-sticky, ≥2 nodes): `bak:P+ID` and the validity
// backup on the next available node after the session's node, and the
// failover that reads them back when that node is down (MSM's
// BackupSessionTask / loadBackupSession).

const PING = Buffer.from([1]);

export class Backups {
  constructor(
    private readonly nodes: NodeManager,
    private readonly keys: Keys,
    private readonly transcoder: AttributesTranscoder,
    private readonly filter: RegExp | undefined,
    private readonly log: (level: 'warn' | 'info', msg: string) => void,
  ) {}

  /**
   * After the primary write: the data copy (or, when the write was skipped,
   * an `add` ping that rewrites the copy only if it had gone), then the
   * validity copy.
   */
  async write(nodeId: string, id: string, data: Buffer | (() => Buffer), skipped: boolean, validity: Validity): Promise<void> {
    if (!this.nodes.backupEnabled) return;
    const mii = validity.maxInactiveInterval;
    let target: string;
    try {
      target = await this.nodes.backupNode(nodeId);
    } catch (e) {
      this.log('warn', `no backup of session "${id}": ${(e as Error).message}`);
      return;
    }
    const c = this.nodes.client(target);
    try {
      if (skipped) {
        if (await c.add(this.keys.backupData(id), PING, 5)) {
          await c.set(this.keys.backupData(id), typeof data === 'function' ? data() : data, 2 * mii);
        }
      } else {
        await c.set(this.keys.backupData(id), typeof data === 'function' ? data() : data, 2 * mii);
      }
      await c.set(this.keys.backupValidity(id), encodeValidity(validity), mii);
    } catch (e) {
      this.log('warn', `backup of session "${id}" to node "${target}" failed: ${(e as Error).message}`);
    }
  }

  /** The validity-only refresh of a request that never loaded its session. */
  async refresh(nodeId: string, id: string, validity: Validity): Promise<void> {
    if (!this.nodes.backupEnabled) return;
    try {
      const c = this.nodes.client(await this.nodes.backupNode(nodeId));
      await c.add(this.keys.backupData(id), PING, 1);
      await c.set(this.keys.backupValidity(id), encodeValidity(validity), validity.maxInactiveInterval);
    } catch (e) {
      this.log('warn', `backup validity of session "${id}" not refreshed: ${(e as Error).message}`);
    }
  }

  async delete(nodeId: string, id: string): Promise<void> {
    if (!this.nodes.backupEnabled) return;
    const target = await this.nodes.nextAvailableNode(nodeId);
    if (target === undefined) return;
    const c = this.nodes.client(target);
    await Promise.allSettled([c.delete(this.keys.backupData(id)), c.delete(this.keys.backupValidity(id))]);
  }

  /**
   * The session of a dead node, from its backup: the next available node
   * first, then the ones after it (an earlier backup may have gone further).
   * On success the id names the node the backup was found on, and the
   * session is marked renamed so the request ends with a full write.
   */
  async failover(id: string, deadNode: string, now: number): Promise<MsmSession | undefined> {
    if (!this.nodes.backupEnabled) return undefined;
    for (const n of this.nodes.nodesAfter(deadNode)) {
      if (!(await this.nodes.isAvailable(n))) continue;
      const c = this.nodes.client(n);
      try {
        const vb = await c.get(this.keys.backupValidity(id));
        const v = vb && decodeValidity(vb);
        if (!v || !isValidAt(v, now)) continue;
        const db = await c.get(this.keys.backupData(id));
        const d = db && decodeSessionData(db);
        if (!d) continue;
        const s = new MsmSession(d.fields, this.transcoder.deserialize(d.attributes), this.filter);
        s.fields.lastAccessedTime = v.lastAccessedTime;
        s.fields.thisAccessedTime = v.thisAccessedTime;
        s.id = changeNodeId(id, n);
        s.idChanged = true;
        this.log('info', `session "${id}" of unavailable memcached node "${deadNode}" restored from its backup on "${n}" as "${s.id}"`);
        return s;
      } catch (e) {
        this.log('warn', `backup of session "${id}" on node "${n}" unreadable: ${(e as Error).message}`);
      }
    }
    this.log('warn', `session "${id}" of unavailable memcached node "${deadNode}" has no backup: lost`);
    return undefined;
  }
}
