import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { StubCounters } from '../http/stub-status-module';

// nginx's stub_status counters live in shared memory that every worker
// updates. Node processes share no memory, so nodinx shares a file instead:
// the master creates it (and unlinks it at once, so nothing is left behind
// even after kill -9), workers inherit its descriptor, each worker owns one
// 64-byte slot it pwrite()s, and a reader pread()s them all and adds up.
// A slot starts and ends with the same sequence number; a read that finds
// them different caught a write half done and reads again (a seqlock).

const FIELDS = ['accepted', 'handled', 'requests', 'active', 'reading', 'writing'] as const;
const SLOT = 8 * (FIELDS.length + 2);

export type Counters = Record<(typeof FIELDS)[number], number>;

export const zeroCounters = (): Counters => ({ accepted: 0, handled: 0, requests: 0, active: 0, reading: 0, writing: 0 });

export class StatsFile {
  private seq = 0;

  constructor(readonly fd: number) {}

  /** The master's file: on tmpfs when there is one, unlinked once open. */
  static create(): StatsFile {
    let error: unknown;
    for (const dir of ['/dev/shm', os.tmpdir()]) {
      const file = path.join(dir, `nodinx-stats-${process.pid}-${Date.now()}`);
      try {
        const fd = fs.openSync(file, 'wx+', 0o600);
        fs.unlinkSync(file);
        return new StatsFile(fd);
      } catch (e) {
        error ??= e;
      }
    }
    throw error;
  }

  write(slot: number, c: Counters): void {
    const buf = Buffer.allocUnsafe(SLOT);
    const seq = ++this.seq;
    buf.writeDoubleLE(seq, 0);
    FIELDS.forEach((f, i) => buf.writeDoubleLE(c[f], 8 * (i + 1)));
    buf.writeDoubleLE(seq, SLOT - 8);
    try {
      fs.writeSync(this.fd, buf, 0, SLOT, slot * SLOT);
    } catch {
      // statistics must not take requests down with them
    }
  }

  /** A slot's counters; zeros for a slot never written. */
  read(slot: number): Counters {
    for (let attempt = 0; attempt < 5; attempt++) {
      const buf = Buffer.alloc(SLOT);
      fs.readSync(this.fd, buf, 0, SLOT, slot * SLOT);
      const c = this.decode(buf, 0);
      if (c) return c;
    }
    return zeroCounters();
  }

  /** The sum over every slot: what nginx's shared counters say. */
  total(): Counters {
    const size = fs.fstatSync(this.fd).size;
    const buf = Buffer.alloc(size - (size % SLOT));
    fs.readSync(this.fd, buf, 0, buf.length, 0);
    const sum = zeroCounters();
    for (let off = 0; off < buf.length; off += SLOT) {
      const c = this.decode(buf, off) ?? this.read(off / SLOT);
      for (const f of FIELDS) sum[f] += c[f];
    }
    return sum;
  }

  /**
   * A worker is gone: it has no connections any more (a killed one could
   * not say so). Its totals stay in the slot, and the next worker given the
   * slot counts on from them, so that accepts and requests never go down.
   */
  release(slot: number): void {
    const c = this.read(slot);
    this.write(slot, { ...c, active: 0, reading: 0, writing: 0 });
  }

  close(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed
    }
  }

  private decode(buf: Buffer, off: number): Counters | undefined {
    if (buf.readDoubleLE(off) !== buf.readDoubleLE(off + SLOT - 8)) return undefined;
    const c = zeroCounters();
    FIELDS.forEach((f, i) => (c[f] = buf.readDoubleLE(off + 8 * (i + 1))));
    return c;
  }
}

/** A worker's side: its slot, written once per turn of the event loop at most. */
export class StatsSlot {
  private pending = false;

  constructor(
    private readonly file: StatsFile,
    private readonly slot: number,
    private readonly counters: () => Counters,
  ) {}

  /** What the slot held before this worker: the totals it counts on from. */
  inherited(): Counters {
    return this.file.read(this.slot);
  }

  changed(): void {
    if (this.pending) return;
    this.pending = true;
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.pending = false;
    this.file.write(this.slot, this.counters());
  }

  /** Every worker's counters, this one's up to date. */
  total(): StubCounters {
    this.flush();
    return withWaiting(this.file.total());
  }
}

/** nginx counts waiting connections itself; they are those neither reading nor writing. */
export function withWaiting(c: Counters): StubCounters {
  return { ...c, waiting: Math.max(0, c.active - c.reading - c.writing) };
}
