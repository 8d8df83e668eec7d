import * as fs from 'node:fs';
import { A, C, TAKE12, type Cf, type Module } from '../conf/module';
import { parseNumber, parseTime } from '../conf/values';
import type { HttpModuleHooks } from './core-module';
import type { LocationConf } from './core-conf';
import { unwatchFile, watchFile, type FileWatch } from './file-watch';

// open_file_cache: nginx keeps open descriptors and their fstat() for
// open_file_cache_valid, so a file replaced under it is served stale that
// long. nodinx keeps the stat and the bytes of small files instead, and
// drops them when the file changes: inotify tells it (file-watch.ts), and
// until the watch is known to hold a request checks the file with one
// stat(); a change of inode, size, mtime or ctime drops the entry. So nodinx
// is never staler than nginx with the same config, and a cached file costs
// no system call where nginx's costs open, fstat, read and close. A write can
// land in the same timestamp tick as our read and leave mtime and ctime as
// we saw them; so a file changed less than RACY_MS before it was read is not
// cached (git's "racy clean" rule), and is read afresh until it has been
// quiet that long.
//
// A watched entry is still stat()ed once every RECHECK_MS: changes inotify
// does not see (a network file system written from elsewhere, a write
// through a hard link in another directory, a mount) show within that time.
// Files with several links, reached through a symbolic link, or on a file
// system whose changes may come from another machine (NFS, SMB, FUSE, 9p,
// Ceph…, where inotify hears only local writes) are not watched at all:
// they are checked on every request.

const RACY_MS = 2000;
const RECHECK_MS = 1000;
/** statfs() types of file systems written from elsewhere (linux/magic.h), whose files are not watched */
const REMOTE_FS = new Set([
  0x6969 /* NFS */, 0xff534d42 /* CIFS */, 0xfe534d42 /* SMB2 */, 0x517b /* SMB */, 0x65735546 /* FUSE */,
  0x01021997 /* 9p */, 0x00c36400 /* Ceph */, 0x47504653 /* GPFS */, 0x0bd00bd0 /* Lustre */, 0x73757245 /* Coda */,
  0x564c /* NCP */, 0x6b414653 /* AFS */, 0x5346414f /* OpenAFS */,
]);

/** "//" and "/./" in a path made of a root and a URI name the directory they follow */
const EXTRA_SLASHES = /\/(?:\.?\/)+/g;
/** Files up to this size are kept by the always-on cache of locations without open_file_cache. */
export const SMALL_FILE_MAX = 128 * 1024;
/** Bytes of file contents all caches together may hold; past that, entries keep no body. */
const BODY_BUDGET = 64 * 1024 * 1024;

export interface CachedFile {
  st: fs.Stats;
  body: Buffer;
  /** the path as bytes for stat() (a name is bytes, not UTF-8) */
  fsPath: Buffer<ArrayBufferLike>;
  /** the static module's ETag of this stat, made once */
  etag?: string;
  /** for `inactive=`: the last request that used it */
  used: number;
  /** the body as gzip made it, by its parameters: the same bytes deflate the same way every time */
  gzipped?: Map<string, Buffer>;
  /** inotify watches the way to the file: no stat() needed till `checked + RECHECK_MS` */
  watch?: FileWatch;
  /** when a stat() last found the file unchanged */
  checked: number;
}

export class OpenFileCache {
  /** what openFileCache() answers for a location using this cache, made once */
  choice?: { cache: OpenFileCache; maxSize: number };
  private readonly files = new Map<string, CachedFile>();
  /** the entry at the end of `files`, which a hit need not move */
  private last?: CachedFile;
  private static bytes = 0;
  /** bytes of file contents this cache holds */
  private bytes = 0;

  constructor(readonly max: number, readonly inactiveMs: number, private readonly racyMs = RACY_MS, private readonly maxBytes = Infinity) {}

  /** The cached bytes of `path` when the file on disk is still the one read; undefined otherwise. */
  lookup(path: string): CachedFile | undefined {
    const e = this.files.get(path);
    if (!e) return undefined;
    const now = Date.now();
    if (now - e.used > this.inactiveMs || !this.current(e, now)) {
      this.drop(path, e);
      return undefined;
    }
    e.used = now;
    // most recently used last: the first is the one to evict
    if (e !== this.last) {
      this.files.delete(path);
      this.files.set(path, e);
      this.last = e;
    }
    return e;
  }

  /** A watched entry goes without a stat() until its next recheck. */
  private current(e: CachedFile, now: number): boolean {
    return (e.watch !== undefined && now - e.checked < RECHECK_MS) || this.unchanged(e, now);
  }

  private unchanged(e: CachedFile, now: number): boolean {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(e.fsPath, { throwIfNoEntry: false });
    } catch {
      st = undefined;
    }
    if (!st || !same(st, e.st)) return false;
    e.checked = now;
    return true;
  }

  /** Remembers a regular file's bytes just read through the descriptor `st` came from. */
  store(path: string, st: fs.Stats, body: Buffer, fsPath: Buffer<ArrayBufferLike> = Buffer.from(path, 'latin1')): void {
    const now = Date.now();
    // whole milliseconds, as Date.now() has them: a file written this very millisecond is not "in the future"
    if (now - Math.floor(Math.max(st.mtimeMs, st.ctimeMs)) < this.racyMs) return;
    if (body.length > this.maxBytes) return;
    // the least recently used make room
    while (this.bytes + body.length > this.maxBytes && this.files.size > 0) {
      const [first, e] = this.files.entries().next().value as [string, CachedFile];
      this.drop(first, e);
    }
    if (OpenFileCache.bytes + body.length > BODY_BUDGET) return;
    const old = this.files.get(path);
    if (old) this.drop(path, old);
    if (this.files.size >= this.max) {
      const [first, e] = this.files.entries().next().value as [string, CachedFile];
      this.drop(first, e);
    }
    const e: CachedFile = { st, body, fsPath, used: now, checked: now };
    this.files.set(path, e);
    this.last = e;
    OpenFileCache.bytes += body.length;
    this.bytes += body.length;
    if (st.nlink === 1 && path.startsWith('/')) this.watch(path, e);
  }

  /**
   * Watches the way to a file just stored. The bytes were read before the
   * watch began: a stat() after it that still matches them proves no change
   * fell in between (the racy rule above makes that stat() able to tell).
   */
  private watch(path: string, e: CachedFile): void {
    let real: string;
    try {
      real = fs.realpathSync.native(e.fsPath, { encoding: 'latin1' });
    } catch {
      return;
    }
    // a symbolic link on the way: a change behind it would not reach the directories watched
    if (real !== path.replace(EXTRA_SLASHES, '/')) return;
    try {
      if (REMOTE_FS.has(fs.statfsSync(e.fsPath).type)) return;
    } catch {
      return;
    }
    e.watch = watchFile(real, () => {
      e.watch = undefined;
      if (this.files.get(path) === e) this.drop(path, e);
    });
    if (e.watch && !this.unchanged(e, Date.now())) this.drop(path, e);
  }

  private drop(path: string, e: CachedFile): void {
    this.files.delete(path);
    if (this.last === e) this.last = undefined;
    if (e.watch) {
      unwatchFile(e.watch);
      e.watch = undefined;
    }
    OpenFileCache.bytes -= e.body.length;
    this.bytes -= e.body.length;
  }
}

function same(a: fs.Stats, b: fs.Stats): boolean {
  return a.ino === b.ino && a.dev === b.dev && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.isFile();
}

export const OPEN_FILE_CACHE = 'http_open_file_cache';

export interface OpenFileCacheLocConf {
  /** null: `open_file_cache off` */
  cache?: OpenFileCache | null;
  /** open_file_cache_valid in seconds: accepted; nodinx revalidates every request */
  valid?: number;
  seen?: Set<string>;
}

/**
 * Where a location without open_file_cache keeps small files. nginx then
 * opens, fstats and reads the file for every request; nodinx stats it and
 * serves the bytes it read before when the stat says the file is the same
 * (see the top of this file), so every request still sees the file as it is
 * on disk now — the answers nginx gives, for one system call instead of four.
 * An entry unused for 10 s goes; it holds 16 MiB of files at most.
 */
export const smallFileCache = new OpenFileCache(1000, 10_000, RACY_MS, 16 * 1024 * 1024);

/** The location's cache: open_file_cache's, or the small-file cache when it is off. */
export function openFileCache(loc: LocationConf): { cache: OpenFileCache; maxSize: number } {
  const own = (loc.confs[OPEN_FILE_CACHE] as OpenFileCacheLocConf | undefined)?.cache;
  return own ? (own.choice ??= { cache: own, maxSize: Infinity }) : SMALL_FILES;
}

const SMALL_FILES = { cache: smallFileCache, maxSize: SMALL_FILE_MAX };

function firstOnLevel(conf: OpenFileCacheLocConf, name: string): boolean {
  conf.seen ??= new Set();
  if (conf.seen.has(name)) return false;
  conf.seen.add(name);
  return true;
}

/** ngx_http_core_open_file_cache: off | max=N [inactive=time] */
function openFileCacheSet(cf: Cf, conf: OpenFileCacheLocConf): string | undefined {
  if (!firstOnLevel(conf, 'open_file_cache')) return 'is duplicate';
  let max = 0;
  let inactive = 60;
  let off = false;
  for (const p of cf.args) {
    if (p.startsWith('max=')) max = parseNumber(p.slice(4));
    else if (p.startsWith('inactive=') && !Number.isNaN(parseTime(p.slice(9), true))) {
      inactive = parseTime(p.slice(9), true);
      continue;
    } else if (p === 'off') off = true;
    else max = NaN;
    if (Number.isNaN(max) || (p.startsWith('max=') && max <= 0)) throw cf.error(`invalid "open_file_cache" parameter "${p}"`);
  }
  if (!off && max === 0) throw cf.error(`"open_file_cache" must have the "max" parameter`);
  conf.cache = off ? null : new OpenFileCache(max, inactive * 1000);
  return undefined;
}

export const openFileCacheModule: Module & HttpModuleHooks = {
  name: OPEN_FILE_CACHE,
  type: 'http',
  createLoc: (): OpenFileCacheLocConf => ({}),
  // one cache object for a level and all that inherit it, as nginx shares it
  mergeLoc(parent: OpenFileCacheLocConf, child: OpenFileCacheLocConf) {
    if (child.cache === undefined) child.cache = parent.cache;
    child.valid ??= parent.valid ?? 60;
  },
  commands: [
    { name: 'open_file_cache', type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | TAKE12, set: openFileCacheSet },
    {
      name: 'open_file_cache_valid',
      type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1,
      set(cf, conf: OpenFileCacheLocConf) {
        if (!firstOnLevel(conf, 'open_file_cache_valid')) return 'is duplicate';
        const t = parseTime(cf.args[0], true);
        if (Number.isNaN(t)) return 'invalid value';
        conf.valid = t;
        return undefined;
      },
    },
  ],
};
