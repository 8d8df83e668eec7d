import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsPath } from './bytes';

// glob(3) as nginx calls it for `include`: *, ? and [...] within one path
// segment, no match for leading dots, results in byte order (nginx runs in
// the C locale). Node 20 has no fs.globSync, hence this.

function segmentRegex(segment: string): RegExp {
  let re = '^';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = segment.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, end);
      if (body.startsWith('!')) body = '^' + body.slice(1);
      re += '[' + body.replace(/\\/g, '\\\\') + ']';
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(re + '$');
}

const hasMagic = (s: string): boolean => /[*?[]/.test(s);

const byteOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function globSync(pattern: string): string[] {
  const absolute = path.isAbsolute(pattern);
  const segments = pattern.split('/').filter((s, i) => s !== '' || i === 0);
  let candidates = [absolute ? '/' : '.'];
  for (let i = absolute ? 1 : 0; i < segments.length; i++) {
    const seg = segments[i];
    const last = i === segments.length - 1;
    const next: string[] = [];
    for (const dir of candidates) {
      if (!hasMagic(seg)) {
        const p = path.join(dir, seg);
        if (fs.existsSync(fsPath(p))) next.push(p);
        continue;
      }
      let names: string[];
      try {
        names = fs.readdirSync(fsPath(dir), { encoding: 'latin1' });
      } catch {
        continue;
      }
      const re = segmentRegex(seg);
      if (seg.startsWith('.')) names.push('.', '..');
      for (const name of names.sort(byteOrder)) {
        if (name.startsWith('.') && !seg.startsWith('.')) continue;
        if (!re.test(name)) continue;
        // not path.join: "dir/." must stay "dir/.", as glob(3) returns it
        const p = dir.endsWith('/') ? dir + name : `${dir}/${name}`;
        if (!last) {
          try {
            if (!fs.statSync(fsPath(p)).isDirectory()) continue;
          } catch {
            continue;
          }
        }
        next.push(p);
      }
    }
    candidates = next;
  }
  return candidates.sort(byteOrder);
}
