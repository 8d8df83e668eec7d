import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// The golden case format (see scripts/golden-expect.mjs): the main config,
// `--- file: PATH` sections, `=== expect` with nginx's verdict and, where
// nodinx knowingly differs (a directive it does not have yet), `=== nodinx`
// with nodinx's own verdict.

export interface GoldenCase {
  name: string;
  file: string;
  files: Array<{ path: string; text: string }>;
  /** nginx's verdict: "ok" or "[level] message" with {dir} */
  expect: string;
  /** nodinx's verdict where it differs from nginx's, else undefined */
  nodinx?: string;
}

export const CASES_DIR = path.join(__dirname, '..', 'fixtures', 'conf');

export function readCase(file: string): GoldenCase {
  const text = fs.readFileSync(file, 'utf8');
  const files = [{ path: 'nginx.conf', text: '' }];
  let section: 'conf' | 'expect' | 'nodinx' = 'conf';
  let expect: string | undefined;
  let nodinx: string | undefined;
  for (const line of text.match(/[^\n]*\n|[^\n]+$/g) ?? []) {
    const bare = line.replace(/\r?\n$/, '');
    const m = /^--- file: (.+?)$/.exec(bare);
    if (section === 'conf' && m) {
      files.push({ path: m[1], text: '' });
      continue;
    }
    if (bare === '=== expect') {
      section = 'expect';
      continue;
    }
    if (bare === '=== nodinx') {
      section = 'nodinx';
      continue;
    }
    if (section === 'conf') files[files.length - 1].text += line;
    else if (bare.trim() !== '') {
      if (section === 'expect') expect ??= bare;
      else nodinx ??= bare;
    }
  }
  if (expect === undefined) throw new Error(`${file}: no "=== expect" section`);
  return { name: path.relative(CASES_DIR, file), file, files, expect, nodinx };
}

export function allCases(): GoldenCase[] {
  const out: GoldenCase[] = [];
  for (const kind of ['valid', 'invalid']) {
    const dir = path.join(CASES_DIR, kind);
    for (const f of fs.readdirSync(dir).sort()) if (f.endsWith('.conf')) out.push(readCase(path.join(dir, f)));
  }
  return out;
}

/** Writes a case into a fresh directory (with logs/) and returns it. */
export function materialize(c: GoldenCase): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'nodinx-golden-')));
  fs.mkdirSync(path.join(dir, 'logs'));
  for (const f of c.files) {
    const p = path.join(dir, f.path);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, f.text);
  }
  return dir;
}
