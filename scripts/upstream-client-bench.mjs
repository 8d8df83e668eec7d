// Which upstream client for proxy_pass: a node:http front proxying 100 B
// answers through (a) undici's Pool with keep-alive, (b) a lean client over
// net.Socket with nodinx's status-line/header parsers and a keep-alive pool.
// Same backend, same front, wrk -c50; prints req/s of each, side by side.
// Usage: npx tsc && node scripts/upstream-client-bench.mjs [seconds]
import * as http from 'node:http';
import * as net from 'node:net';
import { execFile } from 'node:child_process';
import { Pool } from 'undici';
import { StatusLine, parseStatusLine } from '../dist/upstream/http-parse.js';
import { HeaderState, parseHeaderLine } from '../dist/http/header-parser.js';

const secs = Number(process.argv[2] ?? 10);
const BODY = 'x'.repeat(100);
const listen = (srv) => new Promise((res) => srv.listen(0, '127.0.0.1', () => res(srv.address().port)));

const backend = net.createServer((s) => {
  let buf = '';
  s.setNoDelay(true);
  s.on('data', (d) => {
    buf += d.toString('latin1');
    let i;
    while ((i = buf.indexOf('\r\n\r\n')) >= 0) {
      buf = buf.slice(i + 4);
      s.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`);
    }
  });
});
const bport = await listen(backend);

const pool = new Pool(`http://127.0.0.1:${bport}`, { connections: 64, pipelining: 1 });
const viaUndici = http.createServer(async (req, res) => {
  const r = await pool.request({ path: req.url, method: req.method, headers: { host: `127.0.0.1:${bport}` } });
  const body = await r.body.arrayBuffer();
  res.writeHead(r.statusCode, { 'content-type': r.headers['content-type'], 'content-length': body.byteLength });
  res.end(Buffer.from(body));
});

const idle = [];
function lean(req, res) {
  const sock = idle.pop() ?? net.connect(bport, '127.0.0.1');
  sock.setNoDelay(true);
  sock.write(`${req.method} ${req.url} HTTP/1.1\r\nHost: 127.0.0.1:${bport}\r\n\r\n`, 'latin1');
  const st = new StatusLine();
  const hs = new HeaderState();
  let buf = null;
  let pos = 0;
  let head = true;
  let cl = -1;
  let type;
  const chunks = [];
  let got = 0;
  const onData = (d) => {
    if (head) {
      buf = buf ? Buffer.concat([buf, d]) : d;
      if (st.count < 3 || st.end < 0) {
        const [rc, p] = parseStatusLine(st, buf, pos, buf.length);
        if (rc !== 'ok') return;
        pos = p;
      }
      for (;;) {
        const [rc, p] = parseHeaderLine(hs, buf, pos, buf.length, true);
        if (rc === 0) {
          const name = buf.toString('latin1', hs.nameStart, hs.nameEnd).toLowerCase();
          const value = buf.toString('latin1', hs.valueStart, hs.valueEnd);
          if (name === 'content-length') cl = Number(value);
          else if (name === 'content-type') type = value;
          pos = p;
          continue;
        }
        if (rc === 2) {
          head = false;
          d = buf.subarray(p);
          break;
        }
        return;
      }
    }
    chunks.push(d);
    got += d.length;
    if (got >= cl) {
      sock.off('data', onData);
      idle.push(sock);
      res.writeHead(st.code, { 'content-type': type, 'content-length': cl });
      res.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    }
  };
  sock.on('data', onData);
}
const viaLean = http.createServer(lean);

// wrk runs beside this process (the servers live here: never block the loop)
const wrk = (port) => new Promise((resolve, reject) => {
  execFile('wrk', ['-t1', '-c50', `-d${secs}s`, `http://127.0.0.1:${port}/`], (e, out) => (e ? reject(e) : resolve(Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]))));
});
const [pu, pl] = [await listen(viaUndici), await listen(viaLean)];
await wrk(pu); await wrk(pl); // warm up
const rows = [];
for (let i = 0; i < 3; i++) rows.push({ undici: await wrk(pu), lean: await wrk(pl) });
console.table(rows);
const avg = (k) => rows.reduce((a, r) => a + r[k], 0) / rows.length;
console.log(`lean/undici: ${(avg('lean') / avg('undici')).toFixed(2)}`);
process.exit(0);
