import type { Attributes, SessionFields } from './codec';

// A session as MSM's MemcachedBackupSession keeps it between load and
// store: the header fields, the attributes, and what this request did to it.

export class MsmSession {
  attributes: Attributes;
  /** get/set/remove on a persisted attribute name in this request */
  attributesAccessed = false;
  authChanged = false;
  /** renamed in this request (failover, relocation, takeover): force a full write and a new cookie */
  idChanged = false;
  invalidated = false;
  /** sticky: Tomcat's background rewrite of a session only read (§7) */
  forceWrite = false;
  /** sticky: when the data key written last expires in memcached, ms */
  memcachedExpiresAt = 0;
  /** Arrays.hashCode of the attribute bytes at load or at the last successful write */
  dataHash: number | undefined;

  constructor(public fields: SessionFields, attributes: Attributes, private readonly filter?: RegExp) {
    this.attributes = attributes;
  }

  get id(): string {
    return this.fields.id;
  }

  set id(v: string) {
    this.fields.id = v;
  }

  get isNew(): boolean {
    return this.fields.isNew;
  }

  private touched(name: string): void {
    if (!this.filter || this.filter.test(name)) this.attributesAccessed = true;
  }

  getAttribute<T = unknown>(name: string): T | undefined {
    this.touched(name);
    return this.attributes.get(name) as T | undefined;
  }

  setAttribute(name: string, value: unknown): void {
    this.touched(name);
    if (value === undefined) this.attributes.delete(name);
    else this.attributes.set(name, value);
  }

  removeAttribute(name: string): void {
    this.touched(name);
    this.attributes.delete(name);
  }

  attributeNames(): string[] {
    return [...this.attributes.keys()];
  }

  /** Attributes the filter lets through: the others are never persisted. */
  persisted(): Attributes {
    if (!this.filter) return this.attributes;
    return new Map([...this.attributes].filter(([k]) => this.filter!.test(k)));
  }

  /**
   * Tomcat's access() for a session the client already had: this request's
   * time becomes thisAccessedTime, and it is no longer new (the header may
   * still say new: Tomcat's endAccess ran after MSM wrote it, #281).
   */
  access(now: number): void {
    this.fields.lastAccessedTime = this.fields.thisAccessedTime;
    this.fields.thisAccessedTime = now;
    this.fields.isNew = false;
  }

  /** A new session, as Tomcat's createSession leaves it. */
  static create(id: string, maxInactiveInterval: number, now: number, filter?: RegExp): MsmSession {
    return new MsmSession({
      creationTime: now, lastAccessedTime: now, thisAccessedTime: now, lastBackupTime: 0,
      maxInactiveInterval, isNew: true, isValid: true, id,
      authType: 0, principal: null, savedRequest: null, savedPrincipal: null,
    }, new Map(), filter);
  }
}
