import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureNginx, freePort, startNginx, startNodinx, tempDir, writeTree, type RawResponse, type Running } from './http';
import { startBackend, type Backend, type Received, type Reply } from './backend';

// nginx and nodinx each in front of a scripted backend of its own (the
// same script), on the same configuration: {PORT} is the server's port,
// {B} the backend's.

export interface Side {
  server: Running;
  backend: Backend;
  /** second backend, for {B2} */
  backend2: Backend;
}

export async function startProxyPair(
  name: string, config: string, reply: (req: Received, n: number) => Reply, files: Record<string, string> = {},
  reply2: (req: Received, n: number) => Reply = reply,
): Promise<[Side, Side]> {
  ensureNginx();
  const sides: Side[] = [];
  for (const which of ['nginx', 'nodinx'] as const) {
    const backend = await startBackend(reply);
    const backend2 = await startBackend(reply2);
    const port = await freePort();
    const dir = tempDir(`${name}-${which}`);
    writeTree(dir, files);
    fs.writeFileSync(path.join(dir, 'nginx.conf'), config.split('{PORT}').join(String(port))
      .split('{B}').join(String(backend.port)).split('{B2}').join(String(backend2.port)));
    const server = which === 'nginx' ? await startNginx(dir, port) : await startNodinx(dir, port);
    sides.push({ server, backend, backend2 });
  }
  return sides as [Side, Side];
}

export async function stopProxyPair(...sides: Array<Side | undefined>): Promise<void> {
  for (const s of sides) {
    if (!s) continue;
    await s.server.stop();
    await s.backend.stop();
    await s.backend2.stop();
    if (!process.env.KEEP) fs.rmSync(s.server.dir, { recursive: true, force: true });
    else console.log(s.server.dir);
  }
}

/** A response without what differs between runs: Date, and ports. */
export function normResponse(res: RawResponse, side: Side): object {
  const norm = (s: string): string => s.split(String(side.server.port)).join('PORT').split(String(side.backend.port)).join('B')
    .split(String(side.backend2.port)).join('B2');
  return {
    statusLine: res.statusLine,
    // nodinx names itself where nginx does
    headers: res.headers.filter(([k]) => k.toLowerCase() !== 'date').map(([k, v]) => `${k}: ${norm(v).replace(/^nodinx\b/, 'nginx')}`),
    // a body may hold a second response head (after "100 Continue")
    body: norm(res.body.toString('latin1')).replace(/<hr><center>nodinx<\/center>/, '<hr><center>nginx</center>')
      .replace(/^Server: nodinx/m, 'Server: nginx').replace(/^Date: .*\r\n/m, ''),
    closed: res.closed,
  };
}

/** What the backend received, ports made comparable. */
export function normReceived(list: Received[], side: Side): string[] {
  return list.map((r) => (r.head + r.body.toString('latin1')).split(String(side.backend.port)).join('B')
    .split(String(side.backend2.port)).join('B2').split(String(side.server.port)).join('PORT'));
}
