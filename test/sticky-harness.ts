import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '../src/conf/load';
import type { HttpRequest } from '../src/http/request';
import { findUpstream, freePeer, getPeer, initPick, NO_LIVE, type Peer, type PickState, type UpstreamGroup } from '../src/upstream';
import { tempDir } from './helpers/http';

// In-process picks for the sticky tests: upstream blocks read from a real
// config, requests made here, tries run through initPick/prepare/getPeer/
// responded/freePeer in the order the proxy runs them.

const dirs: string[] = [];
export function cleanup(): void {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

export function load(http: string): (name: string) => UpstreamGroup {
  const dir = tempDir('sticky-select');
  dirs.push(dir);
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `events {}\nhttp {\n${http}\nserver { listen 127.0.0.1:1; }\n}\n`);
  const cycle = loadConfig({ prefix: dir, confFile: 'nginx.conf' });
  return (name) => findUpstream(cycle.http!, name)!;
}

/** what requests wrote to the error log */
export const errorLog: string[] = [];

export function request(opts: { cookie?: string; uri?: string; addr?: string } = {}): HttpRequest {
  const uri = opts.uri ?? '/';
  const q = uri.indexOf('?');
  return {
    req: { rawHeaders: opts.cookie ? ['Cookie', opts.cookie] : [], headers: {} }, headerLimit: Infinity,
    uri: q < 0 ? uri : uri.slice(0, q), args: q < 0 ? '' : uri.slice(q + 1), hasArgs: q >= 0, requestUri: uri,
    vars: [], ctx: {}, out: { headers: [], contentLength: -1, lastModified: -1 }, res: new EventEmitter(),
    requestLine: `GET ${uri} HTTP/1.1`,
    conn: { id: 1, remoteAddr: opts.addr ?? '192.0.2.1', ctx: { errorLogFor: () => ({ log: (level: string, line: string) => errorLog.push(`[${level}] ${line}`) }) } },
  } as unknown as HttpRequest;
}

/** one request as the proxy runs it; `fail` fails the first tries; returns the peer that answered */
export async function run(g: UpstreamGroup, r: HttpRequest, opts: { fail?: number; headers?: Array<[string, string]> } = {}) {
  const state: PickState = initPick(g, r, 0);
  state.log = () => undefined;
  await g.balancer.prepare?.(g, state);
  let fail = opts.fail ?? 0;
  for (;;) {
    const peer = getPeer(g, state);
    if (peer === NO_LIVE) return { peer: undefined, state, out: [] as Array<[string, string]> };
    if (fail-- > 0 && state.tries > 1) {
      freePeer(g, peer, state, true);
      continue;
    }
    const out: Array<[string, string]> = [];
    g.balancer.responded?.(g, state, peer, opts.headers ?? [], out);
    freePeer(g, peer, state, false);
    (r.res as EventEmitter).emit('finish');
    return { peer: peer as Peer, state, out };
  }
}
