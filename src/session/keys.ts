import type { MsmConfig } from './config';

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
