import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/conf/load';
import { coreLoc, type LocationConf } from '../src/http/core-module';
import { INDEX, type IndexLocConf } from '../src/http/index-module';
import { LOG, type LogLocConf } from '../src/http/log-module';

// Inheritance as nginx merges: a value set on a level is inherited unless the
// child sets it; an "array" directive (index, error_page, access_log) is
// inherited only when the child level has none of it — never merged.

const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'nodinx-merge-')));
fs.mkdirSync(path.join(dir, 'logs'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

fs.writeFileSync(path.join(dir, 'nginx.conf'), `events {}
http {
  index top.html;
  keepalive_timeout 10s;
  access_log logs/http.log;
  error_page 404 /404.html;
  server {
    listen 8080;
    error_page 500 /500.html;
    location /inherits/ { }
    location /own/ {
      index own.html other.html;
      keepalive_timeout 20s;
      access_log logs/own.log;
      error_page 502 /502.html;
      location /own/nested/ { }
    }
    location /off/ { access_log off; }
  }
}
`);
const cycle = loadConfig({ prefix: dir, confFile: path.join(dir, 'nginx.conf') });
const server = cycle.http!.servers[0];
const loc = (name: string): LocationConf => {
  const find = (l: LocationConf): LocationConf | undefined =>
    l.name === name ? l : l.locations.map(find).find((x) => x !== undefined);
  return find(coreLoc(server.ctx.loc))!;
};
const indices = (l: LocationConf) => (l.confs[INDEX] as IndexLocConf).indices!.map((t) => t.source);
const logs = (l: LocationConf) => ((l.confs[LOG] as LogLocConf).logs ?? []).map((x) => path.basename(x.path.source));
const pages = (l: LocationConf) => (l.errorPages ?? []).flatMap((p) => p.codes);

describe('merging levels', () => {
  it.each([
    ['/inherits/', ['top.html'], 10000, ['http.log'], [500]],
    ['/own/', ['own.html', 'other.html'], 20000, ['own.log'], [502]],
    ['/own/nested/', ['own.html', 'other.html'], 20000, ['own.log'], [502]],
    ['/off/', ['top.html'], 10000, [], [500]],
  ])('%s', (name, index, keepalive, log, errorPages) => {
    const l = loc(name);
    expect(indices(l)).toEqual(index);
    expect(l.keepaliveTimeout).toBe(keepalive);
    expect(logs(l)).toEqual(log);
    expect(pages(l)).toEqual(errorPages);
  });

  it('nginx defaults where nothing is set: root html under the prefix, index.html, logs/access.log', () => {
    fs.writeFileSync(path.join(dir, 'bare.conf'), 'events {}\nhttp { server { listen 8080; location / { } } }\n');
    const bare = loadConfig({ prefix: dir, confFile: path.join(dir, 'bare.conf') });
    const l = coreLoc(bare.http!.servers[0].ctx.loc).locations[0];
    expect(l.root!.source).toBe(path.join(dir, 'html'));
    expect(indices(l)).toEqual(['index.html']);
    expect(logs(l)).toEqual(['access.log']);
    expect(l.keepaliveTimeout).toBe(75000);
    expect(l.clientMaxBodySize).toBe(1024 * 1024);
    expect(l.defaultType).toBe('text/plain');
  });
});
