import * as fs from 'node:fs';

// Change notices for the small-file cache, so that a cached file can be
// served without a stat() per request (what nginx's open_file_cache saves)
// and still never stale. A file is watched through every directory on its
// path: inotify on a directory reports creation, removal, renaming, writes
// and attribute changes of its entries, so a write to the file, a rename
// over it, a removed or renamed directory above it and a chmod anywhere on
// the way all reach us. The kernel queues the event inside the system call
// that made the change, before any request that follows it can be sent, and
// libuv hands out ready descriptors in the order they became ready: a request
// sent after the change is read after its notice.
//
// Paths are byte strings (one char per byte, conf/bytes.ts), as are the
// names inotify reports with encoding 'buffer'.

export interface FileWatch {
  /** every (directory, entry name) this file is reached through */
  readonly links: Array<[WatchedDir, string]>;
  readonly onChange: () => void;
}

interface WatchedDir {
  readonly path: string;
  readonly watcher: fs.FSWatcher;
  /** the watches of files reached through each entry of this directory */
  readonly entries: Map<string, Set<FileWatch>>;
}

const dirs = new Map<string, WatchedDir>();

/**
 * Calls onChange once when anything on the way to the absolute, normalised
 * path `p` changes; undefined when it cannot be watched (no inotify watches
 * left, a directory gone), and the caller checks the file itself.
 */
export function watchFile(p: string, onChange: () => void): FileWatch | undefined {
  const w: FileWatch = { links: [], onChange };
  let end = p.length;
  while (end > 0) {
    const slash = p.lastIndexOf('/', end - 1);
    if (slash < 0) break;
    const dir = dirAt(slash === 0 ? '/' : p.slice(0, slash));
    if (!dir) {
      unwatchFile(w);
      return undefined;
    }
    const name = p.slice(slash + 1, end);
    let set = dir.entries.get(name);
    if (!set) dir.entries.set(name, (set = new Set()));
    set.add(w);
    w.links.push([dir, name]);
    end = slash;
  }
  return w;
}

/** Forgets a watch; a directory nobody needs any more is let go. */
export function unwatchFile(w: FileWatch): void {
  for (const [dir, name] of w.links) {
    const set = dir.entries.get(name);
    if (!set) continue;
    set.delete(w);
    if (set.size === 0) dir.entries.delete(name);
    if (dir.entries.size === 0) closeDir(dir);
  }
  w.links.length = 0;
}

/** How many directories are watched (tests check nothing is left behind). */
export function watchedDirs(): number {
  return dirs.size;
}

function dirAt(path: string): WatchedDir | undefined {
  const known = dirs.get(path);
  if (known) return known;
  let watcher: fs.FSWatcher;
  try {
    watcher = fs.watch(Buffer.from(path, 'latin1'), { persistent: false, encoding: 'buffer' });
  } catch {
    return undefined;
  }
  const dir: WatchedDir = { path, watcher, entries: new Map() };
  watcher.on('change', (_type, name) => changed(dir, name as Buffer | null));
  // the directory itself went away (or the watch failed): everything below it is in doubt
  watcher.on('error', () => changed(dir, null));
  dirs.set(path, dir);
  return dir;
}

function changed(dir: WatchedDir, name: Buffer | null): void {
  const hit: FileWatch[] = [];
  if (name === null || name.length === 0) for (const set of dir.entries.values()) hit.push(...set);
  else hit.push(...(dir.entries.get(name.toString('latin1')) ?? []));
  for (const w of hit) {
    unwatchFile(w);
    w.onChange();
  }
  // a watch on a directory that is gone reports nothing more
  if ((name === null || name.length === 0) && dirs.get(dir.path) === dir) closeDir(dir);
}

function closeDir(dir: WatchedDir): void {
  if (dirs.get(dir.path) === dir) dirs.delete(dir.path);
  dir.watcher.close();
}
