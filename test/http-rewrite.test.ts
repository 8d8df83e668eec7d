import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explain } from '../src/cli/explain';
import {
  normLog, rawRequest, readLines, startPair, stopPair, tempDir, writeTree, type RawResponse, type Running,
} from './helpers/http';
import { REWRITE_CONFIG, REWRITE_FILES } from './helpers/rewrite-config';

// The rewrite module, try_files and add_header, compared with the real
// nginx: both serve the same configuration and files, every request of the
// matrix must get the same answer (status line, headers in order, body,
// whether the connection stays open), and the access and error logs —
// rewrite_log notices, uninitialized-variable warnings, cycles, alerts —
// must have the same lines.

const get = (uri: string, host = 'localhost', extra = ''): string => `GET ${uri} HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`;
const head = (uri: string): string => `HEAD ${uri} HTTP/1.1\r\nHost: localhost\r\n\r\n`;

const FILE_OPS = ['f', 'nf', 'd', 'nd', 'e', 'ne', 'x', 'nx'];
const FILE_OP_TARGETS = ['/a.txt', '/dir', '/run.sh', '/nope', '/a.txt/x'];

/** name → raw request (and whether the answer has no body) */
const MATRIX: Array<[string, string, { head?: boolean }?]> = [
  // rewrite: flags, arguments, captures
  ['server rewrite, no flag', get('/srv-old/zz?q=1')],
  ['server rewrite, last', get('/srv-last/q?z=1')],
  ['server if', get('/?srvret=1')],
  ['rewrite without flag goes on to the next directive', get('/rw/plain/x?q=1')],
  ['rewrite with new args, old appended', get('/rw/args/x?q=1')],
  ['rewrite with new args, no old args', get('/rw/args/x')],
  ['rewrite ending in ? drops args', get('/rw/drop/x?q=1')],
  ['rewrite keeps args', get('/rw/keep/x?q=1')],
  ['rewrite new args and trailing ?', get('/rw/both/x?q=1')],
  ['rewrite redirect flag', get('/rw/redirect/x?q=1')],
  ['rewrite permanent with ? in replacement', get('/rw/permanent/x?q=1')],
  ['rewrite to http:// URL', get('/rw/url/x?q=1')],
  ['rewrite to $scheme URL, args dropped', get('/rw/scheme/x?q=1')],
  ['rewrite break stays in location', get('/rw/break/x.txt?q=1')],
  ['rewrite last', get('/rw/last/x?q=1')],
  ['rewrite named captures', get('/rw/named/aa/bb')],
  ['rewrite no match falls through', get('/rw/other')],
  ['rewrite captures of an escaped URI', get('/rw/args/a%26b%20c?q=1')],
  ['rewrite captures of a URI with +', get('/rw/args/a+b;c')],
  ['redirect unescapes up to "?"', get('/rw/url/p%41%3Fq%20r/%7e')],
  ['redirect of an escaped URI', get('/rw/redirect/a%20b%3Fc')],
  ['rewritten URI of zero length', get('/rw/empty')],
  ['rewrite regex without groups keeps the location\'s $1', get('/cap2/zz')],
  ['rewrite makes an internal location reachable', get('/toint/q')],
  ['internal location asked directly', get('/int/q')],
  ['set, then if on it', get('/setif/?m=b')],
  ['set, if false', get('/setif/?m=c')],
  ['try_files to a named location that rewrites', get('/tfnamed2/p?z=1')],
  ['rewrite cycle without flag', get('/loop/a')],
  ['rewrite cycle with last', get('/loop2/a')],
  ['rewrite_log off', get('/nolog/x')],
  ['alias after rewrite break', get('/alias-rw/x')],
  ['break after rewrite', get('/brk/x')],
  ['if with rewrite and break', get('/ifbreak/?b=1')],
  ['if false, then rewrite', get('/ifbreak/')],
  // return
  ['return text', get('/ret/text')],
  ['return text, HEAD', head('/ret/text'), { head: true }],
  ['return text naming $status', get('/ret/status')],
  ['return 307 naming $status', get('/ret/307status')],
  ['return text, type from extension', get('/ret/html.html')],
  ['return 301 relative', get('/ret/301')],
  ['return URL', get('/ret/302url?a=b')],
  ['return 303 relative text', get('/ret/303')],
  ['return 307 with variable', get('/ret/307')],
  ['return 308 absolute', get('/ret/308')],
  ['return 302 without URL', get('/ret/302empty')],
  ['return 404', get('/ret/404')],
  ['return 404 text', get('/ret/404text')],
  ['return 404 empty text', get('/ret/404empty')],
  ['return 410 with error_page', get('/ret/410')],
  ['return 444', get('/ret/444')],
  ['return 204 text', get('/ret/204')],
  ['return 200 without text', get('/ret/200')],
  ['return 500 text', get('/ret/500?e=1')],
  ['return 418 text', get('/ret/418')],
  ['return 999 text', get('/ret/999')],
  ['return 0 ("000" on the status line)', get('/ret/0')],
  ['return 1', get('/ret/1')],
  ['return 99 text', get('/ret/99')],
  ['return 99 text to HEAD', head('/ret/99'), { head: true }],
  ['return text to a POST with a body', `POST /ret/text HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello`],
  ['return redirect to a chunked POST', `POST /ret/301 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`],
  ['return 200 with If-Unmodified-Since', get('/ret/text', 'localhost', 'If-Unmodified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n')],
  // set and variables
  ['set, $args set', get('/set/x?n=0')],
  ['uninitialized variable', get('/uninit/')],
  ['uninitialized_variable_warn off', get('/uninit-off/')],
  // if
  ['if $var true', get('/if/?v=1')],
  ['if $var "0" is false', get('/if/?v=0')],
  ['if = with escaped space', get('/if/?e=x%20y')],
  ['if = on raw args', get('/if/?n=n')],
  ['if !=', get('/if/?n=m')],
  ['if ~ with captures and names', get('/ifre/abc/12')],
  ['if ~* caseless capture', get('/ifre/x?q=abc')],
  ['if !~ false, then true', get('/ifre/x?q=zz')],
  ['if !~ true', get('/ifre/x?q=k')],
  ['failed if regex clears captures', get('/ifcap/hello?q=x')],
  ...FILE_OPS.flatMap((op) => FILE_OP_TARGETS.map((p): [string, string] => [`if ${op} ${p}`, get(`/fop/${op}?p=${p}`)])),
  ['if block root', get('/ifloc/f.txt?alt=1')],
  ['if false keeps location', get('/ifloc/f.txt')],
  ['if block add_header replaces', get('/ifloc/f.txt?hdr=1')],
  ['if block index from location', get('/ifloc/?alt=1')],
  // try_files
  ['try_files file', get('/tf/exists.txt')],
  ['try_files fallback URI', get('/tf/missing?a=1')],
  ['try_files $uri/ directory', get('/tf/dir')],
  ['try_files directory with slash', get('/tf/dir/')],
  ['try_files =code', get('/tfcode/nope')],
  ['try_files =code, file there', get('/tfcode/f.txt')],
  ['try_files =404 with error_page', get('/tf404/x')],
  ['try_files named location', get('/tfnamed/x?z=1')],
  ['try_files fallback with args', get('/tfargs/p?z=1')],
  ['try_files fallback drops args', get('/tfnoargs/p?z=1')],
  ['try_files $uri/ only', get('/tfdir/sub')],
  ['try_files $uri/ on a file', get('/tfdir/file')],
  ['try_files with alias', get('/tfalias/s.txt')],
  ['try_files with alias, fallback', get('/tfalias/none')],
  ['try_files cycle', get('/tfloop/a')],
  ['try_files in the server, no location', get('/missing', 'tf.test')],
  ['try_files in the server, not inherited', get('/inloc/missing', 'tf.test')],
  ['try_files skipped in a true if', get('/tfif/missing?x=1')],
  ['try_files, if false', get('/tfif/missing')],
  // add_header
  ['add_header on 200', get('/hdr/file')],
  ['add_header on 404: only always', get('/hdr/missing')],
  ['add_header ETag and Last-Modified', get('/hdr/etag')],
  ['add_header ETag ""', get('/hdr/noetag')],
  ['add_header inherited by nested', get('/hdr/inherit')],
  ['add_header on a redirect', get('/hdr/redirect')],
  ['add_header on 416', get('/hdr/file', 'localhost', 'Range: bytes=100-\r\n')],
  ['add_header on 206', get('/hdr/file', 'localhost', 'Range: bytes=1-2\r\n')],
  ['add_header on 304', get('/hdr/file', 'localhost', 'If-None-Match: *\r\n')],
  ['add_header on 412', get('/hdr/file', 'localhost', 'If-Match: "x"\r\n')],
  ['add_header from http level', get('/a.txt')],
  ['add_header from http level, 404', get('/nothing-here')],
  ['add_header on a directory redirect', get('/dir')],
];

const SKIP_VALUES = new Set(['date', 'server']);

let ngx: Running;
let ndx: Running;
const answers = new Map<string, [RawResponse | string, RawResponse | string]>();

/** The answer, or how the connection ended without one (return 444). */
async function ask(port: number, req: string, opts?: { head?: boolean }): Promise<RawResponse | string> {
  try {
    return await rawRequest(port, req, opts);
  } catch (e) {
    return `no response: ${(e as Error).message}`;
  }
}

function shape(res: RawResponse | string, port: number): object | string {
  if (typeof res === 'string') return res;
  const norm = (s: string): string => s.split(`:${port}`).join(':PORT').replace(/nginx\/1\.22\.1|nodinx\/0\.1\.0/g, 'SERVER');
  return {
    status: res.statusLine,
    headers: res.headers.map(([k, v]) => (SKIP_VALUES.has(k.toLowerCase()) ? k : `${k}: ${norm(v)}`)),
    body: norm(res.body.toString('latin1')),
    closed: res.closed,
  };
}

/** Log lines with what differs by nature (dirs, ports, times, pids, connection numbers) replaced. */
describe('rewrite, return, set, if, try_files and add_header compared with nginx', () => {
  beforeAll(async () => {
    [ngx, ndx] = await startPair('rw', REWRITE_FILES, REWRITE_CONFIG, (dir) => fs.chmodSync(path.join(dir, 'html/run.sh'), 0o755));
    // one request at a time, in the same order, so that the logs line up
    for (const [name, req, opts] of MATRIX) {
      answers.set(name, [await ask(ngx.port, req, opts), await ask(ndx.port, req, opts)]);
    }
  });

  afterAll(async () => {
    await stopPair(ngx, ndx);
  });

  it.each(MATRIX.map(([name]) => [name]))('%s', (name) => {
    const [a, b] = answers.get(name)!;
    expect(shape(b, ndx.port)).toEqual(shape(a, ngx.port));
  });

  it('closes the connection without an answer for return 444', () => {
    const [a, b] = answers.get('return 444')!;
    expect(typeof a).toBe('string');
    expect(typeof b).toBe('string');
  });

  it('writes the same access-log lines', async () => {
    const a = normLog(await readLines(path.join(ngx.dir, 'logs/access.log'), MATRIX.length), ngx);
    const b = normLog(await readLines(path.join(ndx.dir, 'logs/access.log'), MATRIX.length), ndx);
    expect(a.length).toBe(MATRIX.length);
    expect(b).toEqual(a);
  });

  it('writes the same error-log lines: notices, warnings, errors, alerts', async () => {
    const pick = (lines: string[]): string[] => lines.filter((l) => /\[(notice|warn|error|crit|alert)\]/.test(l) && l.includes('client:'));
    const a = pick(normLog(await readLines(path.join(ngx.dir, 'logs/error.log'), 1), ngx));
    const b = pick(normLog(await readLines(path.join(ndx.dir, 'logs/error.log'), a.length), ndx));
    for (const want of ['rewritten data', 'rewritten redirect', 'does not match', 'using uninitialized', 'rewrite or internal redirection cycle while processing',
      'internally redirecting', 'the rewritten URI has a zero length', 'where URI was rewritten']) {
      expect(a.some((l) => l.includes(want)), want).toBe(true);
    }
    expect(b).toEqual(a);
  });
});

describe('nodinx explain reports the rewrite steps', () => {
  let dir: string;
  beforeAll(async () => {
    dir = fs.realpathSync(tempDir('rw-explain'));
    writeTree(dir, REWRITE_FILES);
    fs.writeFileSync(path.join(dir, 'nginx.conf'), REWRITE_CONFIG.split('{PORT}').join('8089'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const steps = async (uri: string) => {
    const e = await explain({ prefix: dir, confFile: path.join(dir, 'nginx.conf'), headers: [], request: `GET http://localhost:8089${uri}` });
    return { e, kinds: e.steps.map((s) => s.kind) };
  };

  it('rewrite, set, if and return, with where they are written', async () => {
    const { e, kinds } = await steps('/ifbreak/?b=1');
    expect(kinds).toEqual(expect.arrayContaining(['if', 'rewrite', 'break']));
    // the server level's `if` comes first
    const ifs = e.steps.filter((s) => s.kind === 'if');
    expect(ifs).toMatchObject([{ condition: '($arg_srvret)', result: false }, { condition: '($arg_b)', result: true, where: { file: path.join(dir, 'nginx.conf') } }]);
    const rewrites = e.steps.filter((s) => s.kind === 'rewrite');
    expect(rewrites).toMatchObject([
      { regex: '^/srv-old/(.*)$', matched: false }, { regex: '^/srv-last/(.*)$', matched: false }, { regex: '^', matched: true, uri: '/a.txt' },
    ]);
    const set = (await steps('/set/x')).e.steps.filter((s) => s.kind === 'set');
    expect(set.map((s) => s.kind === 'set' && s.variable)).toEqual(['a', 'b', 'args']);
    const ret = (await steps('/ret/404')).e.steps.find((s) => s.kind === 'return');
    expect(ret).toMatchObject({ code: 404 });
    const last = await steps('/rw/last/x?q=1');
    expect(last.e.steps).toContainEqual({ kind: 'internal-redirect', reason: 'rewrite last', uri: '/echo?last=x&q=1' });
    expect(last.kinds.filter((k) => k === 'location')).toHaveLength(2);
    expect(last.e.response.status).toBe(200);
  });

  it('try_files: each name tried, then the fallback', async () => {
    const { e } = await steps('/tf/missing');
    const tried = e.steps.filter((s) => s.kind === 'try_files');
    expect(tried.map((s) => s.kind === 'try_files' && [path.relative(dir, s.tried), s.found])).toEqual([
      ['html/tf/missing', false], ['html/tf/missing', false], ['html/tf/fallback.txt', true],
    ]);
    expect(e.steps).toContainEqual({ kind: 'internal-redirect', reason: 'try_files', uri: '/tf/fallback.txt' });
    expect(e.response.status).toBe(200);
  });
});
