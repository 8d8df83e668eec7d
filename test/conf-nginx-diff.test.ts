import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { allCases, materialize } from './helpers/golden';
import { BIN, NGINX, run, verdictOf } from './helpers/nodinx';

// Debian's nginx -t and bin/nodinx -t on the same files: nginx must give the
// verdict the corpus records (so the corpus is the truth), and nodinx must
// give the same line unless the case records that nodinx lacks a directive.

const cases = allCases();

describe('nginx -t and nodinx -t agree', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const dir = materialize(c);
    try {
      const args = ['-t', '-p', dir + '/', '-e', path.join(dir, 'logs/error.log'), '-c', path.join(dir, 'nginx.conf')];
      const nginx = verdictOf(run(NGINX, args), dir);
      expect(nginx).toBe(c.expect);
      const nodinx = verdictOf(run(process.execPath, [BIN, ...args]), dir);
      if (c.nodinx === undefined) expect(nodinx).toBe(nginx);
      else expect(nodinx).toBe(c.nodinx);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
