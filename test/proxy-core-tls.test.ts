import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureNginx, freePort, rawRequest, startNginx, startNodinx, tempDir, type Running } from './helpers/http';

// proxy_pass https://: the upstream is spoken to over TLS with nginx's
// defaults (no certificate check, no SNI); the backend sees the same
// request from nginx and from nodinx, and the client the same answer.

describe('proxy_pass https://', () => {
  const dir = tempDir('proxy-tls');
  const seen: string[] = [];
  let backend: tls.Server;
  const runs: Running[] = [];
  beforeAll(async () => {
    ensureNginx();
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=backend',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
    backend = tls.createServer({ key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) }, (s) => {
      let buf = '';
      s.on('data', (d) => {
        buf += d.toString('latin1');
        if (!buf.includes('\r\n\r\n')) return;
        seen.push(`${buf} sni=${(s as tls.TLSSocket).servername || '-'}`);
        s.end(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\nsecure\n`);
      });
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    const bport = (backend.address() as { port: number }).port;
    for (const which of ['nginx', 'nodinx']) {
      const port = await freePort();
      const d = path.join(dir, which);
      fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, 'nginx.conf'), `events {}\nhttp {\n  server_tokens off;\n  server {\n    listen 127.0.0.1:${port};\n    location / { proxy_pass https://127.0.0.1:${bport}; }\n  }\n}\n`);
      runs.push(which === 'nginx' ? await startNginx(d, port) : await startNodinx(d, port));
    }
  }, 60000);
  afterAll(async () => {
    for (const r of runs) await r.stop();
    backend?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers through TLS as nginx does', async () => {
    const [a, b] = [await rawRequest(runs[0].port, 'GET /s?x=1 HTTP/1.1\r\nHost: h\r\n\r\n'), await rawRequest(runs[1].port, 'GET /s?x=1 HTTP/1.1\r\nHost: h\r\n\r\n')];
    expect([b.statusLine, b.body.toString()]).toEqual([a.statusLine, a.body.toString()]);
    expect(a.body.toString()).toBe('secure\n');
    expect(seen.length).toBe(2);
    expect(seen[1]).toBe(seen[0]);
  });
});
