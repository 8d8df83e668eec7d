import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { SessionManager } from '../src/session/manager';
import { MemjsClient } from '../src/session/memcached';
import { startMemcached, type Memcached } from './helpers/memcached';

// `nodinx session ID --memcached-nodes "…"` on sessions the store wrote to
// real memcached (bin/nodinx runs dist/, built by `npm test` first).

const BIN = path.resolve(__dirname, '../bin/nodinx');
let mc: Memcached[];
let nodes: string;
let manager: SessionManager;

function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'session', ...args], (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr }));
  });
}

beforeAll(async () => {
  mc = [await startMemcached(), await startMemcached()];
  nodes = `${mc[0].node('n1')} ${mc[1].node('n2')}`;
  manager = new SessionManager({ memcachedNodes: nodes, sticky: false, sessionBackupAsync: false, sessionBackupTimeout: 2000, lockingMode: 'all' }, { log: () => undefined });
});

afterAll(async () => {
  await manager.close();
  for (const m of mc) await m.stop();
});

let lastId = '';

test('a stored session: its node, data, validity, backup and lock', async () => {
  const r = await manager.begin('GET', '/', undefined, undefined);
  const s = (await r.getSession())!;
  s.setAttribute('count', 3);
  lastId = s.id;
  await r.end();
  await manager.store.flush();
  const node = /-(n[12])$/.exec(lastId)![1];
  const other = node === 'n1' ? 'n2' : 'n1';
  const out = await run(lastId, '--memcached-nodes', nodes);
  expect(out.code).toBe(0);
  const port = mc[node === 'n1' ? 0 : 1].port;
  expect(out.stdout).toContain(`session    ${lastId}\nnode       ${node} (127.0.0.1:${port}) available\n`);
  expect(out.stdout).toMatch(new RegExp(`data       ${lastId}: \\d+ bytes, format 2, created .*maxInactiveInterval 1800 s, isNew true, isValid true`));
  expect(out.stdout).toContain('attributes {"count":3}\n');
  expect(out.stdout).toMatch(new RegExp(`validity   validity:${lastId}: lastAccessed .*, idle \\d+ s of 1800 s: valid\n`));
  expect(out.stdout).toContain(`backup     on ${other}: data present, validity present\n`);
  expect(out.stdout).toContain('lock       not locked\n');
  // while a request holds it, it is locked
  const held = await manager.begin('GET', '/', undefined, lastId);
  await held.getSession();
  expect((await run(lastId, '--memcached-nodes', nodes)).stdout).toContain('lock       locked\n');
  await held.end();
  const json = JSON.parse((await run(lastId, '--memcached-nodes', nodes, '--json')).stdout);
  expect([json.node.id, json.data.attributes, json.backup.data, json.locked]).toEqual([node, '{"count":3}', true, false]);
});

test('missing, foreign and malformed sessions: said plainly, exit status 1', async () => {
  const missing = await run('0123456789ABCDEF0123456789ABCDEF-n1', '--memcached-nodes', nodes);
  expect([missing.code, missing.stdout]).toEqual([1, expect.stringContaining('problem    no session data under this id')]);
  const unknown = await run('0123456789ABCDEF-n9', '--memcached-nodes', nodes);
  expect(unknown.stdout).toContain('problem    the id names node "n9", which is not in memcachedNodes');
  const raw = new MemjsClient('127.0.0.1', mc[0].port, { timeout: 1000 });
  await raw.set('GARBAGE-n1', Buffer.from('hello'), 60);
  raw.close();
  const garbage = await run('GARBAGE-n1', '--memcached-nodes', nodes);
  expect([garbage.code, garbage.stdout]).toEqual([1, expect.stringContaining('data       GARBAGE-n1: 5 bytes, unreadable: not MSM\'s format')]);
  const bad = await run('a b', '--memcached-nodes', nodes);
  expect([bad.code, bad.stderr]).toEqual([1, 'nodinx: session id "a b" holds characters a session id never has\n']);
  const usage = await run('X-n1');
  expect([usage.code, usage.stderr]).toEqual([1, expect.stringContaining('usage: nodinx session ID --memcached-nodes')]);
});
