import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { testConfig } from '../src/cli/test-config';

// Hostile configs: each is a clear error with its position, never a crash or a hang.

const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'nodinx-bad-')));
fs.mkdirSync(path.join(dir, 'logs'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function verdict(name: string, content: string | Buffer, extra: Record<string, string> = {}): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  for (const [p, text] of Object.entries(extra)) fs.writeFileSync(path.join(dir, p), text);
  const r = testConfig({ prefix: dir, confFile: file });
  return r.error ? r.error.text.split(dir).join('{dir}') : 'ok';
}

describe('bad config input', () => {
  it('binary garbage', () => {
    const garbage = crypto.randomBytes(64 * 1024);
    const v = verdict('garbage.conf', garbage);
    expect(v).toMatch(/^\[emerg\] .* in \{dir\}\/garbage\.conf:\d+$/);
  });

  it('NUL bytes in a word', () => {
    expect(verdict('nul.conf', 'events {}\nfoo\0bar;\n')).toBe('[emerg] unknown directive "foo\0bar" in {dir}/nul.conf:2');
  });

  it('invalid UTF-8 in a parameter is an error with its line', () => {
    const bytes = Buffer.concat([Buffer.from('events {}\nhttp {\n  default_type "text/\xff'), Buffer.from([0xff, 0xfe]), Buffer.from('";\n}\n')]);
    expect(verdict('utf8.conf', bytes)).toBe('[emerg] invalid UTF-8 sequence in a parameter in {dir}/utf8.conf:3');
  });

  it('invalid UTF-8 in a comment is harmless, as in nginx', () => {
    const bytes = Buffer.concat([Buffer.from('# caf'), Buffer.from([0xe9]), Buffer.from('\nevents {}\n')]);
    expect(verdict('latin1-comment.conf', bytes)).toBe('ok');
  });

  it('a 100 MB file', () => {
    const file = path.join(dir, 'huge.conf');
    const fd = fs.openSync(file, 'w');
    fs.writeSync(fd, 'events {}\n');
    const chunk = Buffer.from('# a comment line that goes on and on to fill one hundred megabytes of config\n'.repeat(13000));
    let written = 0;
    while (written < 100 * 1024 * 1024) written += fs.writeSync(fd, chunk);
    const lines = 1 + (written / chunk.length) * 13000;
    fs.writeSync(fd, 'bogus;\n');
    fs.closeSync(fd);
    const r = testConfig({ prefix: dir, confFile: file });
    expect(r.error?.text).toBe(`[emerg] unknown directive "bogus" in ${file}:${lines + 1}`);
  });

  it('a parameter longer than nginx reads', () => {
    const v = verdict('long.conf', `events {}\nhttp { default_type "${'a'.repeat(5000)}"; }\n`);
    expect(v).toBe('[emerg] too long parameter, probably missing terminating """ character in {dir}/long.conf:2');
  });

  it('an include cycle', () => {
    const v = verdict('cycle.conf', 'events {}\ninclude cycle-a.conf;\n', { 'cycle-a.conf': '# a\ninclude cycle-b.conf;\n', 'cycle-b.conf': 'include cycle-a.conf;\n' });
    expect(v).toBe('[emerg] include cycle: "{dir}/cycle-a.conf" includes itself in {dir}/cycle-b.conf:1');
  });

  it('a file that includes itself', () => {
    expect(verdict('self.conf', 'events {}\ninclude self.conf;\n')).toBe('[emerg] include cycle: "{dir}/self.conf" includes itself in {dir}/self.conf:2');
  });

  it('1,000 levels of nesting parse; more are an error, not a stack overflow', () => {
    const deep = (n: number) => 'events {}\nhttp { server { ' + 'location /a { '.repeat(n - 2) + '}'.repeat(n - 2) + ' } }\n';
    expect(verdict('deep.conf', deep(1000))).toBe('ok');
    const tooDeep = '[emerg] too deep nesting of blocks (over 1000 levels) in {dir}/deeper.conf:2';
    expect(verdict('deeper.conf', deep(1001))).toBe(tooDeep);
    expect(verdict('deeper.conf', deep(100000))).toBe(tooDeep);
  });

  it('a config file that cannot be read', () => {
    fs.mkdirSync(path.join(dir, 'a-directory.conf'));
    // as nginx: pread() fails after open(), so the including line is not named
    expect(verdict('top.conf', 'events {}\ninclude a-directory.conf;\n')).toBe('[crit] pread() "{dir}/a-directory.conf" failed (21: Is a directory)');
    const r = testConfig({ prefix: dir, confFile: path.join(dir, 'missing.conf') });
    expect(r.error?.text).toBe(`[emerg] open() "${dir}/missing.conf" failed (2: No such file or directory)`);
    const r2 = testConfig({ prefix: dir, confFile: path.join(dir, 'top.conf/x') });
    expect(r2.error?.text).toBe(`[emerg] open() "${dir}/top.conf/x" failed (20: Not a directory)`);
  });
});
