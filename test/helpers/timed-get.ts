import * as net from 'node:net';

// One GET over a fresh connection ("Connection: close": the response ends
// with the connection), timed from the connect to the last byte, for the
// rate-limit tests. `closeAfter` ms: the client hangs up early instead.

export interface TimedResponse {
  status: number;
  headers: Array<[string, string]>;
  /** bytes of the head, CRLFCRLF included */
  headLength: number;
  /** the body as sent (chunked framing undone) */
  body: Buffer;
  /** every byte received after the head */
  wireBody: number;
  ms: number;
}

function unchunk(b: Buffer): Buffer {
  const parts: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', i);
    if (eol < 0) break;
    const n = parseInt(b.subarray(i, eol).toString('latin1'), 16);
    if (!(n > 0)) break;
    parts.push(b.subarray(eol + 2, eol + 2 + n));
    i = eol + 2 + n + 2;
  }
  return Buffer.concat(parts);
}

export function timedGet(port: number, path: string, opts: { closeAfter?: number; headers?: string[] } = {}): Promise<TimedResponse> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const chunks: Buffer[] = [];
    const sock = net.connect(port, '127.0.0.1', () => {
      const extra = (opts.headers ?? []).map((h) => h + '\r\n').join('');
      sock.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${extra}\r\n`);
    });
    let timer: NodeJS.Timeout | undefined;
    if (opts.closeAfter !== undefined) timer = setTimeout(() => sock.end(), opts.closeAfter);
    const hard = setTimeout(() => sock.destroy(new Error(`no end of ${path} in 20 s`)), 20000);
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', reject);
    sock.on('close', () => {
      clearTimeout(hard);
      if (timer) clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error(`no response head for ${path}: ${JSON.stringify(all.toString('latin1'))}`));
      const lines = all.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(lines[0].split(' ')[1]);
      const headers = lines.slice(1).map((l): [string, string] => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]);
      const raw = all.subarray(end + 4);
      const chunked = headers.some(([k, v]) => k.toLowerCase() === 'transfer-encoding' && v === 'chunked');
      resolve({ status, headers, headLength: end + 4, body: chunked ? unchunk(raw) : raw, wireBody: raw.length, ms: Date.now() - start });
    });
  });
}
