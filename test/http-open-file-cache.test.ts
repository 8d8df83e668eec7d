import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { OpenFileCache } from '../src/http/open-file-cache';
import { watchedDirs } from '../src/http/file-watch';
import { rawRequest, startPair, stopPair, type Running } from './helpers/http';

// open_file_cache keeps small files' bytes; a request must never get bytes
// the file on disk no longer has (nginx without the cache opens every time).

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodinx-ofc-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function fileWith(name: string, text: string): { p: string; b: Buffer; st: fs.Stats; body: Buffer } {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  const b = Buffer.from(p, 'latin1');
  return { p, b, st: fs.statSync(b), body: fs.readFileSync(p) };
}

/**
 * Past the next poll phase of the event loop, where inotify's notices of
 * what was done before are read. A test body may run in a poll callback,
 * whose first immediate comes before the next poll: so two.
 */
const immediate = (): Promise<void> => new Promise((r) => setImmediate(r));
const turn = async (): Promise<void> => {
  await immediate();
  await immediate();
};

describe('open_file_cache', () => {
  it('serves the stored bytes while the file is unchanged', () => {
    const c = new OpenFileCache(10, 60000, 0);
    const f = fileWith('a.txt', 'hello');
    c.store(f.p, f.st, f.body);
    expect(c.lookup(f.p)?.body.toString()).toBe('hello');
  });

  it('drops an entry whose file changed, was replaced or removed', async () => {
    const c = new OpenFileCache(10, 60000, 0);
    const f = fileWith('b.txt', 'one');
    c.store(f.p, f.st, f.body);
    fs.writeFileSync(f.p, 'three');
    await turn();
    expect(c.lookup(f.p)).toBeUndefined();
    const g = fileWith('c.txt', 'x');
    c.store(g.p, g.st, g.body);
    fs.writeFileSync(g.p + '.new', 'y');
    fs.renameSync(g.p + '.new', g.p);
    await turn();
    expect(c.lookup(g.p)).toBeUndefined();
    const h = fileWith('d.txt', 'x');
    c.store(h.p, h.st, h.body);
    fs.unlinkSync(h.p);
    await turn();
    expect(c.lookup(h.p)).toBeUndefined();
  });

  // the point of the watch: a hit costs no stat(); the change is known once its notice is read
  it('serves a watched entry without stat() and drops it when inotify reports a change', async () => {
    const c = new OpenFileCache(10, 60000, 0);
    const f = fileWith('w.txt', 'one');
    c.store(f.p, f.st, f.body);
    fs.writeFileSync(f.p, 'two');
    // the notice is not read yet and no stat() is made: the old bytes, which only a watch explains
    expect(c.lookup(f.p)?.body.toString()).toBe('one');
    await turn();
    expect(c.lookup(f.p)).toBeUndefined();
  });

  it('drops what is under a directory renamed, removed or changed on the way', async () => {
    const c = new OpenFileCache(10, 60000, 0);
    fs.mkdirSync(path.join(dir, 'sub/deeper'), { recursive: true });
    const f = fileWith('sub/deeper/x.txt', 'x');
    const g = fileWith('sub/y.txt', 'y');
    // the notices of making them (the watches of other tests may see them) go first
    await turn();
    c.store(f.p, f.st, f.body);
    c.store(g.p, g.st, g.body);
    fs.renameSync(path.join(dir, 'sub/deeper'), path.join(dir, 'sub/moved'));
    await turn();
    expect(c.lookup(f.p)).toBeUndefined();
    expect(c.lookup(g.p)?.body.toString()).toBe('y');
    fs.chmodSync(path.join(dir, 'sub'), 0o700);
    await turn();
    expect(c.lookup(g.p)).toBeUndefined();
    fs.rmSync(path.join(dir, 'sub'), { recursive: true });
  });

  it('checks a file reached through a symbolic link on every lookup', () => {
    const c = new OpenFileCache(10, 60000, 0);
    fs.mkdirSync(path.join(dir, 'real'));
    fs.symlinkSync(path.join(dir, 'real'), path.join(dir, 'link'));
    fs.writeFileSync(path.join(dir, 'real/s.txt'), 'one');
    const f = fileWith('link/s.txt', 'one');
    c.store(f.p, f.st, f.body);
    expect(c.lookup(f.p)?.body.toString()).toBe('one');
    fs.writeFileSync(path.join(dir, 'real/s.txt'), 'three');
    // no turn: only a stat() can have seen it
    expect(c.lookup(f.p)).toBeUndefined();
  });

  it('lets go of every directory watch once its entries are gone', async () => {
    const before = watchedDirs();
    const c = new OpenFileCache(10, 60000, 0);
    fs.mkdirSync(path.join(dir, 'gone/a'), { recursive: true });
    const f = fileWith('gone/a/f', 'f');
    c.store(f.p, f.st, f.body);
    expect(watchedDirs()).toBeGreaterThan(before);
    fs.unlinkSync(f.p);
    await turn();
    expect(c.lookup(f.p)).toBeUndefined();
    expect(watchedDirs()).toBe(before);
  });

  it('does not keep a file changed within the racy window', () => {
    const c = new OpenFileCache(10, 60000);
    const before = watchedDirs();
    const f = fileWith('e.txt', 'fresh');
    c.store(f.p, f.st, f.body);
    expect(c.lookup(f.p)).toBeUndefined();
    expect(watchedDirs()).toBe(before);
  });

  it('evicts the least recently used past max=', () => {
    const c = new OpenFileCache(2, 60000, 0);
    const [x, y, z] = ['x', 'y', 'z'].map((n) => fileWith(n, n));
    c.store(x.p, x.st, x.body);
    c.store(y.p, y.st, y.body);
    c.lookup(x.p);
    c.store(z.p, z.st, z.body);
    expect(c.lookup(y.p)).toBeUndefined();
    expect(c.lookup(x.p)).toBeDefined();
    expect(c.lookup(z.p)).toBeDefined();
  });
});

/** One server on {PORT} with `locations`, and `http` lines above it. */
const config = (http: string, locations: string): string => `
worker_processes 1;
events { worker_connections 64; }
http {
    default_type text/plain;
    access_log off;
    ${http}
    server { listen 127.0.0.1:{PORT}; ${locations} }
}
`;

describe('small files without open_file_cache, nodinx beside nginx', () => {
  const CONFIG = config('gzip on; gzip_types text/plain; gzip_min_length 1; gzip_http_version 1.0;', 'location / { root html; }');
  let nginx: Running | undefined;
  let nodinx: Running | undefined;
  afterAll(() => stopPair(nginx, nodinx));

  // each answer twice, as is and gzipped (nodinx keeps the gzipped bytes with the cached file)
  const get = async (port: number): Promise<string> => {
    const plain = (await rawRequest(port, 'GET /f.txt HTTP/1.0\r\n\r\n')).body.toString('latin1');
    const gz = await rawRequest(port, 'GET /f.txt HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n');
    expect(gz.headers.find(([k]) => k.toLowerCase() === 'content-encoding')?.[1]).toBe('gzip');
    expect(zlib.gunzipSync(gz.body).toString('latin1')).toBe(plain);
    return plain;
  };

  // nodinx keeps the bytes of a file that has been quiet for 2 s and checks
  // them with stat() on every request: a change must show at the next request
  it('serves a file changed in place (same size, mtime put back) at the next request', async () => {
    [nginx, nodinx] = await startPair('ofc-fresh', { 'html/f.txt': 'first' }, CONFIG);
    // past the racy window since the tree was written: the bytes are kept now
    await new Promise((r) => setTimeout(r, 2100));
    for (const s of [nginx, nodinx]) expect(await get(s.port)).toBe('first');
    for (const s of [nginx, nodinx]) expect(await get(s.port)).toBe('first');
    for (const s of [nginx, nodinx]) {
      const f = path.join(s.dir, 'html/f.txt');
      fs.writeFileSync(f, 'other');
      fs.utimesSync(f, 1700000000, 1700000000);
    }
    for (const s of [nginx, nodinx]) expect(await get(s.port)).toBe('other');
    for (const s of [nginx, nodinx]) {
      const f = path.join(s.dir, 'html/f.txt');
      fs.unlinkSync(f);
      fs.writeFileSync(f + '.new', 'third!');
      fs.renameSync(f + '.new', f);
    }
    for (const s of [nginx, nodinx]) expect(await get(s.port)).toBe('third!');
    for (const s of [nginx, nodinx]) fs.chmodSync(path.join(s.dir, 'html/f.txt'), 0);
    // as root both still read it; either way both give the same answer
    const a = await rawRequest(nginx.port, 'GET /f.txt HTTP/1.0\r\n\r\n');
    const b = await rawRequest(nodinx.port, 'GET /f.txt HTTP/1.0\r\n\r\n');
    expect(b.status).toBe(a.status);
    for (const s of [nginx, nodinx]) fs.unlinkSync(path.join(s.dir, 'html/f.txt'));
    const [x, y] = [await rawRequest(nginx.port, 'GET /f.txt HTTP/1.0\r\n\r\n'), await rawRequest(nodinx.port, 'GET /f.txt HTTP/1.0\r\n\r\n')];
    expect(x.status).toBe(404);
    expect(y.status).toBe(404);
  }, 20000);
});

describe('cached files changed between requests, nodinx beside nginx', () => {
  const CONFIG = config('', 'location / { root html; } location /ofc/ { root html; open_file_cache max=100; }');
  let nginx: Running | undefined;
  let nodinx: Running | undefined;
  afterAll(() => stopPair(nginx, nodinx));
  const N = 40;

  // nodinx serves these from memory without a stat(): only inotify's notice
  // tells it of the change, and it must have it before the next request
  it('serves every change at the request right after it, with and without open_file_cache', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < N; i++) files[`html/f${i}.txt`] = files[`html/ofc/f${i}.txt`] = `old ${i}`;
    [nginx, nodinx] = await startPair('ofc-watch', files, CONFIG);
    await new Promise((r) => setTimeout(r, 2100));
    const get = async (port: number, name: string): Promise<string> =>
      (await rawRequest(port, `GET /${name} HTTP/1.0\r\n\r\n`)).body.toString('latin1');
    for (const s of [nginx, nodinx]) for (const name of Object.keys(files)) expect(await get(s.port, name.slice(5))).toBe(files[name]);
    for (let i = 0; i < N; i++) {
      for (const sub of ['', 'ofc/']) {
        const name = `${sub}f${i}.txt`;
        // the same size, and one of three ways: in place, a rename over it, its mtime put back
        const text = `new ${i}`;
        for (const s of [nginx, nodinx]) {
          const f = path.join(s.dir, 'html', name);
          if (i % 3 === 0) fs.writeFileSync(f, text);
          else if (i % 3 === 1) {
            fs.writeFileSync(f + '.tmp', text);
            fs.renameSync(f + '.tmp', f);
          } else {
            const st = fs.statSync(f);
            fs.writeFileSync(f, text);
            fs.utimesSync(f, st.atime, st.mtime);
          }
        }
        const [a, b] = [await get(nginx.port, name), await get(nodinx.port, name)];
        // nginx keeps a descriptor for open_file_cache_valid: a file renamed over stays stale there
        if (sub === '' || i % 3 !== 1) expect(a).toBe(text);
        expect(b).toBe(text);
      }
    }
  }, 30000);
});

describe('open_file_cache byte limit', () => {
  it('makes room by dropping the least recently used', () => {
    const c = new OpenFileCache(10, 60000, 0, 10);
    const [x, y, z] = ['bx', 'by', 'bz'].map((n) => fileWith(n, 'abcd'));
    c.store(x.p, x.st, x.body);
    c.store(y.p, y.st, y.body);
    c.lookup(x.p);
    c.store(z.p, z.st, z.body);
    expect(c.lookup(y.p)).toBeUndefined();
    expect(c.lookup(x.p)).toBeDefined();
    expect(c.lookup(z.p)).toBeDefined();
    const big = fileWith('bbig', 'x'.repeat(11));
    c.store(big.p, big.st, big.body);
    expect(c.lookup(big.p)).toBeUndefined();
    expect(c.lookup(x.p)).toBeDefined();
  });
});
