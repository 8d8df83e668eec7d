import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureNginx, normLog, readLines, startNginx, startNodinx, tempDir, writeTree, type Running } from './http';
import { freePort } from './ports';
import { exchange, type Piece } from './raw-socket';
import { startBackend, type Action, type Backend, type BackendRequest } from './backends';

// The nginx-differential proxy runner: a case is a server block, scripted
// backends and a client exchange; it is run against nginx and then against
// nodinx on the same backends, and everything observable is put in one
// normalised record: what each backend received, what the client received,
// the access-log line and the error-log lines.

export interface DiffCase {
  name: string;
  /** inside `server { listen ...; }`; {B1}, {B2}... are the backends' "127.0.0.1:PORT" ({P1}... their ports), {R} a refusing one */
  server: string;
  /** more of the http block (upstream blocks, maps) */
  http?: string;
  /** one script per backend */
  backends?: Array<Action | Action[]>;
  /** a backend on a unix-domain socket: {U} is "unix:/its/path" */
  unix?: Action | Action[];
  /** a backend speaking TLS (self-signed): {T} is its "127.0.0.1:PORT" */
  tls?: Action | Action[];
  /** the client's bytes ({HOST} is "127.0.0.1:PORT"); several pieces may pause between them */
  request: string | Piece[];
  /** half-close after sending */
  shut?: boolean;
  /** ms of silence that ends the exchange (default 1000: a loaded machine may keep nginx quiet for 300) */
  idle?: number;
  /** the client gives up after this many ms (for aborts) */
  max?: number;
  /** the request is HEAD: no body to read */
  head?: boolean;
  /** more variables at the end of the access-log line (e.g. '$upstream_http_x_id') */
  log?: string;
  /** error_log level for the case (default warn) */
  errorLevel?: 'error' | 'warn' | 'notice' | 'info';
  /** headers of the client's response left out of the comparison (Date always is) */
  ignore?: string[];
  /** what the case is about, checked on nginx's outcome */
  expect: (o: Outcome) => void;
  /** ms to wait for log lines once the exchange ended */
  logWait?: number;
}

export interface Outcome {
  /** what each backend received: request line and headers, body length and digest */
  upstream: string[][];
  status: number;
  statusLine: string;
  headers: Array<[string, string]>;
  body: string;
  /** the body came chunked */
  chunked: boolean;
  /** the responses after the first on the same connection */
  more: Array<{ statusLine: string; headers: Array<[string, string]>; body: string; chunked: boolean }>;
  /** the server closed the connection */
  closed: boolean;
  access: string[];
  errors: string[];
  /** upstream connections the server still holds once the exchange is over (kept-alive ones, or leaks) */
  upstreamOpen: number;
}

const LOG_FORMAT = `$status "$request" $body_bytes_sent "$upstream_addr" "$upstream_status" "$upstream_response_length"`;

function config(c: DiffCase, port: number, subst: (s: string) => string): string {
  return `events {}
http {
    log_format diff '${LOG_FORMAT}${c.log ? ' ' + c.log : ''}';
    access_log logs/access.log diff;
    error_log logs/error.log ${c.errorLevel ?? 'warn'};
    ${subst(c.http ?? '')}
    server {
        listen 127.0.0.1:${port};
        ${subst(c.server)}
    }
}
`;
}

interface RawResponse {
  statusLine: string;
  headers: Array<[string, string]>;
  body: Buffer;
  chunked: boolean;
}

/** The responses on one connection: Content-Length, chunked or to the end; a cut one keeps what came. */
export function parseResponses(data: Buffer, head: boolean): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  while (at < data.length) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end < 0) {
      out.push({ statusLine: data.subarray(at).toString('latin1'), headers: [], body: Buffer.alloc(0), chunked: false });
      break;
    }
    const lines = data.subarray(at, end).toString('latin1').split('\r\n');
    const statusLine = lines.shift()!;
    const headers = lines.map((l): [string, string] => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]);
    const get = (n: string): string | undefined => headers.find(([k]) => k.toLowerCase() === n)?.[1];
    const status = Number(statusLine.split(' ')[1]);
    const chunked = /chunked/i.test(get('transfer-encoding') ?? '');
    let pos = end + 4;
    let body: Buffer;
    if (head || status === 304 || status === 204 || (status >= 100 && status < 200)) {
      body = Buffer.alloc(0);
    } else if (chunked) {
      const parts: Buffer[] = [];
      for (;;) {
        const eol = data.indexOf('\r\n', pos);
        if (eol < 0) {
          pos = data.length;
          break;
        }
        const size = parseInt(data.subarray(pos, eol).toString('latin1'), 16);
        if (!(size > 0)) {
          pos = Math.min(data.length, eol + 4);
          break;
        }
        parts.push(data.subarray(eol + 2, Math.min(data.length, eol + 2 + size)));
        pos = eol + 2 + size + 2;
      }
      body = Buffer.concat(parts);
    } else if (get('content-length') !== undefined) {
      body = data.subarray(pos, pos + Number(get('content-length')));
      pos += body.length;
    } else {
      body = data.subarray(pos);
      pos = data.length;
    }
    out.push({ statusLine, headers, body, chunked });
    at = pos;
  }
  return out;
}

function describeRequest(q: BackendRequest, norm: (s: string) => string): string[] {
  const body = q.body.length > 256 ? `<${q.body.length} bytes, sha1 ${createHash('sha1').update(q.body).digest('hex')}>` : q.body.toString('latin1');
  return [norm(q.line), ...q.headers.map(([k, v]) => norm(`${k}: ${v}`)), `body${q.chunked ? ' (chunked)' : ''}: ${norm(body)}`];
}

let certs: { key: string; cert: string } | undefined;

/** A self-signed certificate for TLS backends, made once per run with Debian's openssl. */
function selfSigned(): { key: string; cert: string } {
  if (certs) return certs;
  const dir = tempDir('pd-cert');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=backend.test',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
    certs = { key: fs.readFileSync(path.join(dir, 'key.pem'), 'latin1'), cert: fs.readFileSync(path.join(dir, 'cert.pem'), 'latin1') };
    return certs;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs one case against one server; the backends are reset first. */
async function runOne(c: DiffCase, which: 'nginx' | 'nodinx', backends: Backend[], refusing: number, unix?: Backend, secure?: Backend): Promise<Outcome> {
  unix?.reset();
  secure?.reset();
  for (const b of backends) b.reset();
  const port = await freePort();
  const dir = tempDir(`pd-${which}`);
  const subst = (s: string): string => {
    let out = s.split('{R}').join(`127.0.0.1:${refusing}`);
    if (unix) out = out.split('{U}').join(unix.addr);
    if (secure) out = out.split('{T}').join(secure.addr);
    backends.forEach((b, i) => (out = out.split(`{B${i + 1}}`).join(b.addr).split(`{P${i + 1}}`).join(String(b.port))));
    return out;
  };
  writeTree(dir, { 'html/index.html': 'index\n', 'html/50x.html': 'error page\n' });
  fs.writeFileSync(path.join(dir, 'nginx.conf'), config(c, port, subst));
  const run: Running = which === 'nginx' ? await startNginx(dir, port) : await startNodinx(dir, port, 'error');
  // the product's name and version (Server, error pages) is the one difference that is meant
  const norm = (s: string): string => {
    let out = s.replace(/\b(?:nginx\/1\.22\.1|nodinx\/\d+\.\d+\.\d+)\b/g, 'SERVER/VERSION').split(`127.0.0.1:${port}`).join('127.0.0.1:PORT').split(`:${refusing}`).join(':{R}');
    if (unix) out = out.split(unix.addr).join('{U}');
    if (secure) out = out.split(`:${secure.port}`).join(':{T}');
    backends.forEach((b, i) => (out = out.split(`:${b.port}`).join(`:{B${i + 1}}`)));
    // nodinx names itself where nginx does (Server, error pages)
    return out.replace(/\b(?:nginx|nodinx)\/\d+(?:\.\d+)*/g, '{server}');
  };
  try {
    const pieces = typeof c.request === 'string' ? [c.request] : c.request;
    const sent = pieces.map((p) => (typeof p === 'string' ? p.split('{HOST}').join(`127.0.0.1:${port}`) : p));
    const x = await exchange(port, sent, { idle: c.idle ?? 1000, shut: c.shut, max: c.max });
    const ignore = new Set(['date', ...(c.ignore ?? []).map((h) => h.toLowerCase())]);
    const responses = parseResponses(x.data, c.head ?? false).map((res) => ({
      ...res,
      headers: res.headers.map(([k, v]): [string, string] => [k, norm(v)]).filter(([k]) => !ignore.has(k.toLowerCase())),
      body: res.body.length > 4096 ? `<${res.body.length} bytes, sha1 ${createHash('sha1').update(res.body).digest('hex')}>` : norm(res.body.toString('latin1')),
    }));
    const first = responses[0] ?? { statusLine: '', headers: [], body: '', chunked: false };
    // a line per request; the last one may be written after its response went out
    const access = await readLines(path.join(dir, 'logs/access.log'), Math.max(1, responses.length), c.logWait ?? 3000);
    // error lines may follow the access line (a failed try logged late): give them a moment
    await new Promise((r) => setTimeout(r, 50));
    const errors = fs.existsSync(path.join(dir, 'logs/error.log')) ? fs.readFileSync(path.join(dir, 'logs/error.log'), 'latin1').split('\n').filter(Boolean) : [];
    return {
      upstream: [...backends, ...(unix ? [unix] : []), ...(secure ? [secure] : [])].flatMap((b) => b.requests.map((q) => describeRequest(q, norm))),
      status: Number(first.statusLine.split(' ')[1] ?? 0),
      statusLine: first.statusLine,
      headers: first.headers,
      body: first.body,
      chunked: first.chunked,
      more: responses.slice(1),
      closed: x.closed,
      access: access.map(norm),
      // nodinx keeps bodies in memory (proxy_temp_path accepted): nginx's temp-file warnings have no counterpart;
      // the port probe at start-up is a client that closed while nginx waited for its request
      errors: normLog(errors, run).map(norm).filter((l) => !/\[notice\]|using the "\w+" event method|start worker|is buffered to a temporary file|closed connection while waiting for request/.test(l)),
      upstreamOpen: [...backends, ...(unix ? [unix] : []), ...(secure ? [secure] : [])].reduce((n, b) => n + b.open.size, 0),
    };
  } finally {
    await run.stop();
    if (!process.env.KEEP) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Both servers on one case: nginx's outcome, and nodinx's when it proxies. */
export async function runCase(c: DiffCase, withNodinx: boolean): Promise<{ nginx: Outcome; nodinx?: Outcome }> {
  ensureNginx();
  const backends = await Promise.all((c.backends ?? []).map((s) => startBackend(s)));
  const refusing = await freePort();
  const sockDir = c.unix ? tempDir('pd-unix') : undefined;
  const unix = c.unix ? await startBackend(c.unix, { path: path.join(sockDir!, 'backend.sock') }) : undefined;
  const secure = c.tls ? await startBackend(c.tls, { tls: selfSigned() }) : undefined;
  const subst = (s: string): string => backends.reduce((out, b, i) => out.split(`{B${i + 1}}`).join(b.addr), s);
  for (const b of backends) b.subst = subst;
  try {
    const nginx = await runOne(c, 'nginx', backends, refusing, unix, secure);
    const nodinx = withNodinx ? await runOne(c, 'nodinx', backends, refusing, unix, secure) : undefined;
    return { nginx, nodinx };
  } finally {
    await Promise.all([...backends, ...(unix ? [unix] : []), ...(secure ? [secure] : [])].map((b) => b.close()));
    if (sockDir) fs.rmSync(sockDir, { recursive: true, force: true });
  }
}

/**
 * A table of cases: nginx's outcome must pass each case's expect(); nodinx's
 * must equal nginx's. A case `known` lists (a finding not
 * fixed yet, with the reason) runs against nginx only: nodinx running in this
 * process, a fault of its that throws would fail the whole file.
 * SHOW=1 prints both outcomes.
 */
export function runTable(title: string, cases: DiffCase[], known: Record<string, string> = {}): void {
  describe(title, () => {
    for (const c of cases) {
      it(c.name, async () => {
        const compare = !known[c.name];
        // DIFF_ALL=1 runs nodinx on the known cases too, to see in DIFF_DIR whether a finding is fixed
        const { nginx, nodinx } = await runCase(c, compare || !!process.env.DIFF_ALL);
        if (process.env.SHOW) console.log(c.name, JSON.stringify({ nginx, nodinx }, null, 1));
        // DIFF_DIR=dir: one JSON file per case, for reading the differences
        if (process.env.DIFF_DIR) {
          fs.mkdirSync(process.env.DIFF_DIR, { recursive: true });
          fs.writeFileSync(path.join(process.env.DIFF_DIR, c.name.replace(/[^\w.-]+/g, '_') + '.json'), JSON.stringify({ name: c.name, nginx, nodinx }));
        }
        c.expect(nginx);
        if (nodinx && compare) expect(nodinx).toEqual(nginx);
      }, 60000);
    }
  });
}
