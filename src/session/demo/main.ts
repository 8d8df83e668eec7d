import Fastify from 'fastify';
import { msmSessions, stripJsessionid } from '../fastify-plugin';
import type { MsmAttributes } from '../config';
import { SessionError } from '../errors';

// bin/nodinx-demo: the seed's index.jsp as a Node app server. GET / counts
// this session's requests and says which server answered:
//   from NAME
//   session: ID
//   count: N

const USAGE = `Usage: nodinx-demo --name NAME --listen HOST:PORT --memcached-nodes "n1:HOST:PORT n2:HOST:PORT"
                   [--jvm-route ROUTE] [--sticky] [--locking-mode none|all|auto|uriPattern:RE]
                   [--backup-async] [--backup-timeout MS] [--operation-timeout MS]
                   [--ignore-pattern RE] [--max-inactive-interval S] [--context-path /PATH] [--no-sessions]
`;

interface DemoOptions {
  name: string;
  host: string;
  port: number;
  msm: MsmAttributes;
  jvmRoute?: string;
  contextPath: string;
  /** the same answers without sessions (the benchmark's baseline) */
  noSessions?: boolean;
}

export function parseDemoArgs(argv: string[]): DemoOptions {
  let name: string | undefined;
  let listen: string | undefined;
  let jvmRoute: string | undefined;
  let contextPath = '';
  let noSessions = false;
  // a demo behind a balancer wants the next request to see this one's write:
  // synchronous backup (the wiki's non-sticky example) unless asked otherwise
  const msm: MsmAttributes = { memcachedNodes: '', sticky: false, sessionBackupAsync: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      if (i + 1 >= argv.length) throw new Error(`option "${a}" requires a value`);
      return argv[++i];
    };
    switch (a) {
      case '--name': name = value(); break;
      case '--listen': listen = value(); break;
      case '--memcached-nodes': msm.memcachedNodes = value(); break;
      case '--failover-nodes': msm.failoverNodes = value(); break;
      case '--jvm-route': jvmRoute = value(); break;
      case '--sticky': msm.sticky = true; break;
      case '--locking-mode': msm.lockingMode = value(); break;
      case '--backup-async': msm.sessionBackupAsync = true; break;
      case '--backup-timeout': msm.sessionBackupTimeout = value(); break;
      case '--operation-timeout': msm.operationTimeout = value(); break;
      case '--ignore-pattern': msm.requestUriIgnorePattern = value(); break;
      case '--max-inactive-interval': msm.maxInactiveInterval = value(); break;
      case '--context-path': contextPath = value(); break;
      case '--no-sessions': noSessions = true; break;
      case '-h': case '--help': throw new Error('help');
      default: throw new Error(`unknown option "${a}"`);
    }
  }
  if (!name) throw new Error('--name is required');
  const m = listen && /^(.*):(\d+)$/.exec(listen);
  if (!m) throw new Error('--listen HOST:PORT is required');
  if (!msm.memcachedNodes && !noSessions) throw new Error('--memcached-nodes is required');
  return { name, host: m[1].replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]), msm, jvmRoute, contextPath, noSessions };
}

export async function startDemo(o: DemoOptions, logTo?: (line: string) => void) {
  const log = (level: string, msg: string): void => {
    const line = `${new Date().toISOString()} [${level}] ${o.name}: ${msg}`;
    if (logTo) logTo(line);
    else process.stderr.write(`${line}\n`);
  };
  const app = Fastify({ rewriteUrl: stripJsessionid });
  if (!o.noSessions) await app.register(msmSessions, { ...o.msm, jvmRoute: o.jvmRoute, contextPath: o.contextPath, log });
  app.get('/', async (req, reply) => {
    if (o.noSessions) {
      reply.type('text/plain');
      return `from ${o.name}\nsession: none\ncount: 0\n`;
    }
    const s = (await req.getSession(true))!;
    const count = (s.getAttribute<number>('count') ?? 0) + 1;
    s.setAttribute('count', count);
    reply.type('text/plain');
    return `from ${o.name}\nsession: ${s.id}\ncount: ${count}\n`;
  });
  app.get('/static/*', async (_req, reply) => {
    reply.type('text/plain');
    return 'static\n';
  });
  await app.listen({ host: o.host, port: o.port });
  log('notice', `listening on ${o.host}:${o.port}`);
  return app;
}

export async function demoMain(argv: string[]): Promise<number> {
  let o: DemoOptions;
  try {
    o = parseDemoArgs(argv);
  } catch (e) {
    if ((e as Error).message !== 'help') process.stderr.write(`nodinx-demo: ${(e as Error).message}\n`);
    process.stderr.write(USAGE);
    return 1;
  }
  let app: Awaited<ReturnType<typeof startDemo>>;
  try {
    app = await startDemo(o);
  } catch (e) {
    process.stderr.write(`nodinx-demo: ${e instanceof SessionError ? `${e.code}: ` : ''}${(e as Error).message}\n`);
    return 1;
  }
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
  });
  await app.close();
  return 0;
}
