import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Throttle } from '../src/http/limit-rate-writer';

// The throttle on a real loopback connection: what a writer is told
// (wait, then 'drain'), what the socket says it has queued (the proxy
// stops reading its upstream past 1 MiB of it), the bytes in order, and a
// socket that writes straight again once released.

const open: net.Socket[] = [];
let server: net.Server | undefined;

async function pair(): Promise<[net.Socket, net.Socket]> {
  const accepted = new Promise<net.Socket>((resolve) => {
    server = net.createServer(resolve);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const port = (server!.address() as net.AddressInfo).port;
  const client = net.connect(port, '127.0.0.1');
  const s = await accepted;
  open.push(client, s);
  return [s, client];
}

afterEach(() => {
  for (const s of open.splice(0)) s.destroy();
  server?.close();
});

const pattern = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7) & 0xff));

describe('Throttle', () => {
  it('holds what the rate does not allow yet, tells the writer to wait, and wakes it once all is out', async () => {
    const [s, client] = await pair();
    const got: Buffer[] = [];
    client.on('data', (d) => got.push(d));
    const rate = 64 * 1024;
    const t = new Throttle(s, { rate, after: 0, startSec: Math.floor(Date.now() / 1000) }, () => undefined);
    const data = pattern(100 * 1024);
    const start = Date.now();
    expect(s.write(data.subarray(0, 90 * 1024))).toBe(false);
    // a second write while held joins the queue behind the first
    expect(s.write(data.subarray(90 * 1024))).toBe(false);
    // the second's 10 KiB and what the first could not send count as queued
    expect(s.writableLength).toBeGreaterThanOrEqual(36 * 1024);
    await new Promise<void>((resolve) => s.once('drain', () => resolve()));
    // 64 KiB in the first second, the rest only after a second's delay
    expect(Date.now() - start).toBeGreaterThanOrEqual(950);
    await new Promise<void>((resolve) => {
      const check = (): void => (Buffer.concat(got).length >= data.length ? resolve() : void setTimeout(check, 10));
      check();
    });
    expect(Buffer.concat(got).equals(data)).toBe(true);
    expect(s.writableLength).toBeLessThan(1024);
    t.release();
    expect(Object.prototype.hasOwnProperty.call(s, 'write')).toBe(false);
    expect(Object.prototype.hasOwnProperty.call(s, 'writableLength')).toBe(false);
    expect(s.write('x')).toBe(true);
  });

  it('lets limit_rate_after bytes through at once, callbacks included', async () => {
    const [s, client] = await pair();
    let n = 0;
    client.on('data', (d) => (n += d.length));
    const t = new Throttle(s, { rate: 1024, after: 50000, startSec: Math.floor(Date.now() / 1000) }, () => undefined);
    const done = new Promise<void>((resolve) => s.write(pattern(40000), () => resolve()));
    await done;
    expect(s.writableLength).toBeLessThan(1024);
    // past the 50000 + 1024 of the first second: held
    expect(s.write(pattern(20000))).toBe(false);
    expect(s.writableLength).toBeGreaterThan(8000);
    t.release();
    expect(n).toBeLessThanOrEqual(40000 + 11024);
  });

  it('reports the bytes a client that went away never got', async () => {
    const [s, client] = await pair();
    const reports: Array<[number, boolean]> = [];
    new Throttle(s, { rate: 4096, after: 0, startSec: Math.floor(Date.now() / 1000) }, (unsent, eof) => {
      reports.push([unsent, eof]);
      s.destroy();
    });
    s.write(pattern(10000));
    client.end();
    await new Promise<void>((resolve) => s.once('close', () => resolve()));
    expect(reports).toEqual([[10000 - 4096, true]]);
  });
});
