import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { testConfig } from '../src/cli/test-config';
import { fromBytes } from '../src/conf/bytes';
import { allCases, materialize } from './helpers/golden';

// Every case of the corpus through the same path as `nodinx -t`. The verdict
// must be nginx's (=== expect) unless the case records why nodinx differs
// (=== nodinx: a directive nginx has that nodinx does not have yet).

const cases = allCases();

describe('golden config corpus', () => {
  it('has the corpus the issue asks for', () => {
    expect(cases.filter((c) => c.name.startsWith('valid')).length).toBeGreaterThanOrEqual(60);
    expect(cases.filter((c) => c.name.startsWith('invalid')).length).toBeGreaterThanOrEqual(30);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const dir = materialize(c);
    try {
      const r = testConfig({ prefix: dir, confFile: path.join(dir, 'nginx.conf') });
      // messages are byte strings; the corpus is UTF-8 text
      const verdict = r.error ? fromBytes(r.error.text).split(dir).join('{dir}') : 'ok';
      if (c.nodinx !== undefined) {
        // a recorded difference must be an unsupported directive, or nginx
        // Plus's `sticky` (and `server ... route=`), which nginx OSS rejects
        // and nodinx has as a documented extension
        if (!/^\[emerg\] (unknown directive "sticky"|invalid parameter "route=)/.test(c.expect)) {
          expect(c.nodinx).toMatch(/is not supported by nodinx|not supported by nodinx/);
        }
      }
      expect(verdict).toBe(c.nodinx ?? c.expect);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
