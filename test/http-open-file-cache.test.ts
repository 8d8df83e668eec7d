import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { OpenFileCache } from '../src/http/open-file-cache';
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

describe('open_file_cache', () => {
  it('serves the stored bytes while the file is unchanged', () => {
    const c = new OpenFileCache(10, 60000, 0);
    const f = fileWith('a.txt', 'hello');
    c.store(f.p, f.st, f.body);
    expect(c.lookup(f.p)?.body.toString()).toBe('hello');
  });

  it('drops an entry whose file changed, was replaced or removed', () => {
    const c = new OpenFileCache(10, 60000, 0);
    const f = fileWith('b.txt', 'one');
    c.store(f.p, f.st, f.body);
    fs.writeFileSync(f.p, 'three');
    expect(c.lookup(f.p)).toBeUndefined();
    const g = fileWith('c.txt', 'x');
    c.store(g.p, g.st, g.body);
    fs.writeFileSync(g.p + '.new', 'y');
    fs.renameSync(g.p + '.new', g.p);
    expect(c.lookup(g.p)).toBeUndefined();
    const h = fileWith('d.txt', 'x');
    c.store(h.p, h.st, h.body);
    fs.unlinkSync(h.p);
    expect(c.lookup(h.p)).toBeUndefined();
  });

  it('does not keep a file changed within the racy window', () => {
    const c = new OpenFileCache(10, 60000);
    const f = fileWith('e.txt', 'fresh');
    c.store(f.p, f.st, f.body);
    expect(c.lookup(f.p)).toBeUndefined();
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

describe('small files without open_file_cache, nodinx beside nginx', () => {
  const CONFIG = `
worker_processes 1;
events { worker_connections 64; }
http {
    default_type text/plain;
    access_log off;
    gzip on; gzip_types text/plain; gzip_min_length 1; gzip_http_version 1.0;
    server { listen 127.0.0.1:{PORT}; location / { root html; } }
}
`;
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
