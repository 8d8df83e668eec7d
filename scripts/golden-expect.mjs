#!/usr/bin/env node
// Golden corpus tool: runs the reference nginx (`nginx -t`) on the config test
// cases under test/fixtures/conf/{valid,invalid}/ and compares / rewrites their
// `=== expect` sections.
//
// Usage:
//   node scripts/golden-expect.mjs [--check | --write] [case files...]
//
//   (no flag)  print nginx's verdict for each case
//   --check    report cases whose `=== expect` differs from nginx's verdict
//              (exit status 1 if any differ)
//   --write    rewrite the `=== expect` section of each case from nginx's verdict
//
// Environment: NGINX=/path/to/nginx (default /usr/sbin/nginx),
//              KEEP=1 keeps the temporary directories (printed to stderr).
//
// Case file format:
//   <main config text, written to {dir}/nginx.conf>
//   --- file: relative/path.conf
//   <text of another file, written to {dir}/relative/path.conf>
//   === expect
//   ok | <nginx error line without the "nginx: " prefix, temp dir as {dir}>
//
// The main config text is everything before the first separator line, including
// the line terminator of its last line. Separator lines may end in LF or CRLF.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CASES_DIR = path.join(ROOT, 'test', 'fixtures', 'conf');
const NGINX = process.env.NGINX || '/usr/sbin/nginx';

const FILE_SEP = /^--- file: (.+?)\r?$/;
const EXPECT_SEP = /^=== expect\r?$/;

/** Split text into lines that keep their terminators. */
function splitKeep(text) {
  const lines = text.match(/[^\n]*\n|[^\n]+$/g);
  return lines ?? [];
}

/**
 * Parse a case file.
 * @returns {{files: {path: string, text: string}[], expect: string|null, expectOffset: number}}
 */
export function parseCase(text) {
  const files = [{ path: 'nginx.conf', text: '' }];
  let cur = files[0];
  let expect = null;
  let expectOffset = -1;
  let offset = 0;
  for (const line of splitKeep(text)) {
    const bare = line.replace(/\n$/, '');
    if (expectOffset >= 0) {
      // Expectation: the first non-empty line after the separator.
      if (expect === null && bare.trim() !== '') expect = bare.replace(/\r$/, '');
    } else if (EXPECT_SEP.test(bare)) {
      expectOffset = offset + line.length;
    } else {
      const m = FILE_SEP.exec(bare);
      if (m) {
        cur = { path: m[1], text: '' };
        files.push(cur);
      } else {
        cur.text += line;
      }
    }
    offset += line.length;
  }
  return { files, expect, expectOffset };
}

/** Run nginx -t on the parsed case and return its verdict string. */
export function verdict(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodinx-golden-'));
  try {
    for (const f of files) {
      if (path.isAbsolute(f.path) || f.path.split(/[\\/]/).includes('..')) {
        throw new Error(`case file path must be relative and inside the prefix: ${f.path}`);
      }
      const full = path.join(dir, f.path);
      fs.mkdirSync(path.dirname(full), { recursive: true });
      fs.writeFileSync(full, f.text, 'utf8');
    }
    fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
    const res = spawnSync(
      NGINX,
      ['-t', '-p', `${dir}/`, '-e', `${dir}/logs/error.log`, '-c', `${dir}/nginx.conf`],
      { encoding: 'utf8', timeout: 30000 },
    );
    if (res.error) throw res.error;
    if (res.status === 0) return 'ok';
    const line = (res.stderr || '').split('\n').find((l) => l.startsWith('nginx: [') && !l.startsWith('nginx: [warn]'));
    if (!line) {
      return `?? exit ${res.status ?? res.signal}: ${(res.stderr || '').trim().split('\n')[0] ?? ''}`;
    }
    return line.slice('nginx: '.length).split(dir).join('{dir}');
  } finally {
    if (process.env.KEEP) process.stderr.write(`kept ${dir}\n`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
}

function listCases() {
  const out = [];
  for (const kind of ['valid', 'invalid']) {
    const d = path.join(CASES_DIR, kind);
    if (!fs.existsSync(d)) continue;
    for (const name of fs.readdirSync(d).sort()) {
      if (name.endsWith('.conf')) out.push(path.join(d, name));
    }
  }
  return out;
}

function main(argv) {
  const mode = argv.includes('--write') ? 'write' : argv.includes('--check') ? 'check' : 'print';
  const args = argv.filter((a) => !a.startsWith('--'));
  const cases = args.length ? args.map((a) => path.resolve(a)) : listCases();
  let problems = 0;
  for (const file of cases) {
    const rel = path.relative(ROOT, file);
    const text = fs.readFileSync(file, 'utf8');
    const c = parseCase(text);
    const got = verdict(c.files);
    const kind = path.basename(path.dirname(file));
    const kindWarn =
      (kind === 'valid' && got !== 'ok') || (kind === 'invalid' && got === 'ok')
        ? ` (WARNING: ${kind} case, nginx says ${got === 'ok' ? 'ok' : 'error'})`
        : '';
    if (kindWarn) problems++;
    if (mode === 'print') {
      console.log(`${rel}: ${got}${kindWarn}`);
    } else if (mode === 'check') {
      if (c.expect !== got) {
        problems++;
        console.log(`${rel}:\n  expect: ${c.expect}\n  nginx:  ${got}`);
      } else if (kindWarn) {
        console.log(`${rel}:${kindWarn}`);
      }
    } else {
      const head = c.expectOffset >= 0 ? text.slice(0, c.expectOffset) : text + (text.endsWith('\n') || text === '' ? '' : '\n') + '=== expect\n';
      const next = `${head}${got}\n`;
      if (next !== text) {
        fs.writeFileSync(file, next, 'utf8');
        console.log(`${rel}: wrote ${got}${kindWarn}`);
      } else if (kindWarn) {
        console.log(`${rel}:${kindWarn}`);
      }
    }
  }
  if (mode === 'check') {
    console.log(problems ? `${problems} problem(s) in ${cases.length} case(s)` : `all ${cases.length} case(s) match`);
  }
  return problems && mode !== 'print' ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
