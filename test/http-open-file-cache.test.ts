import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OpenFileCache } from '../src/http/open-file-cache';

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
    expect(c.lookup(f.p, f.b)?.body.toString()).toBe('hello');
  });

  it('drops an entry whose file changed, was replaced or removed', () => {
    const c = new OpenFileCache(10, 60000, 0);
    const f = fileWith('b.txt', 'one');
    c.store(f.p, f.st, f.body);
    fs.writeFileSync(f.p, 'three');
    expect(c.lookup(f.p, f.b)).toBeUndefined();
    const g = fileWith('c.txt', 'x');
    c.store(g.p, g.st, g.body);
    fs.writeFileSync(g.p + '.new', 'y');
    fs.renameSync(g.p + '.new', g.p);
    expect(c.lookup(g.p, g.b)).toBeUndefined();
    const h = fileWith('d.txt', 'x');
    c.store(h.p, h.st, h.body);
    fs.unlinkSync(h.p);
    expect(c.lookup(h.p, h.b)).toBeUndefined();
  });

  it('does not keep a file changed within the racy window', () => {
    const c = new OpenFileCache(10, 60000);
    const f = fileWith('e.txt', 'fresh');
    c.store(f.p, f.st, f.body);
    expect(c.lookup(f.p, f.b)).toBeUndefined();
  });

  it('evicts the least recently used past max=', () => {
    const c = new OpenFileCache(2, 60000, 0);
    const [x, y, z] = ['x', 'y', 'z'].map((n) => fileWith(n, n));
    c.store(x.p, x.st, x.body);
    c.store(y.p, y.st, y.body);
    c.lookup(x.p, x.b);
    c.store(z.p, z.st, z.body);
    expect(c.lookup(y.p, y.b)).toBeUndefined();
    expect(c.lookup(x.p, x.b)).toBeDefined();
    expect(c.lookup(z.p, z.b)).toBeDefined();
  });
});
