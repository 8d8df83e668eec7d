import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { MsmAttributes } from './config';
import { SessionManager, SessionRequest, type ManagerOptions } from './manager';
import type { MsmSession } from './session';

// A fastify 5 plugin that gives Node application servers behind nodinx the
// sessions Tomcat with memcached-session-manager gives Java ones: the same
// JSESSIONID cookie, the same bytes in memcached, so Node and Java servers
// can share sessions.
//
//   app = fastify({ rewriteUrl: stripJsessionid });
//   app.register(msmSessions, { memcachedNodes: 'n1:127.0.0.1:11211 n2:127.0.0.1:11212', sticky: false });
//   app.get('/', async (req) => { const s = await req.getSession(); … });

export interface MsmPluginOptions extends MsmAttributes, Omit<ManagerOptions, 'factory'> {
  /** a manager made elsewhere (tests, several apps in one process) */
  manager?: SessionManager;
  /** default JSESSIONID, Tomcat's */
  cookieName?: string;
  /** Tomcat's context path: the cookie's Path ('' = the root context, Path=/) */
  contextPath?: string;
  factory?: ManagerOptions['factory'];
}

declare module 'fastify' {
  interface FastifyRequest {
    msm: SessionRequest | undefined;
    /** Tomcat's request.getSession(create): loaded lazily, created when create is true */
    getSession(create?: boolean): Promise<MsmSession | undefined>;
  }
  interface FastifyInstance {
    msmSessions: SessionManager;
  }
}

const PATH_PARAM = /;jsessionid=([^;?/#]*)/;

/** For fastify's rewriteUrl: the path without Tomcat's `;jsessionid=` path parameter. */
export function stripJsessionid(req: { url?: string }): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  return path.replace(PATH_PARAM, '') + (q < 0 ? '' : url.slice(q));
}

/** The first cookie of that name, as Tomcat takes it. */
export function cookieValue(header: string | string[] | undefined, name: string): string | undefined {
  for (const h of Array.isArray(header) ? header : header ? [header] : []) {
    for (const part of h.split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
      let v = part.slice(eq + 1).trim();
      if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
      if (v !== '') return v;
    }
  }
  return undefined;
}

/** The requested session id: the cookie wins over the path parameter, as in Tomcat's CoyoteAdapter. */
export function requestedSessionId(url: string, cookie: string | string[] | undefined, name = 'JSESSIONID'): string | undefined {
  const fromCookie = cookieValue(cookie, name);
  if (fromCookie !== undefined) return fromCookie;
  const q = url.indexOf('?');
  const m = PATH_PARAM.exec(q < 0 ? url : url.slice(0, q));
  return m && m[1] !== '' ? m[1] : undefined;
}

/** Tomcat's session cookie: Path is the context path or /, always HttpOnly. */
export function sessionCookie(name: string, id: string, contextPath: string, secure: boolean): string {
  return `${name}=${id}; Path=${contextPath === '' ? '/' : contextPath}${secure ? '; Secure' : ''}; HttpOnly`;
}

function appendSetCookie(reply: FastifyReply, cookie: string): void {
  const prev = reply.getHeader('set-cookie');
  const list = prev === undefined ? [] : Array.isArray(prev) ? prev.map(String) : [String(prev)];
  reply.header('set-cookie', [...list, cookie]);
}

async function msmSessionsPlugin(app: FastifyInstance, o: MsmPluginOptions): Promise<void> {
  const manager = o.manager ?? new SessionManager(o, { jvmRoute: o.jvmRoute, log: o.log, transcoder: o.transcoder, factory: o.factory });
  const cookieName = o.cookieName ?? 'JSESSIONID';
  const contextPath = o.contextPath ?? '';
  app.decorate('msmSessions', manager);
  app.decorateRequest('msm', undefined);
  app.decorateRequest('getSession', function (this: FastifyRequest, create = true) {
    return this.msm ? this.msm.getSession(create) : Promise.resolve(undefined);
  });

  app.addHook('onRequest', async (req) => {
    const url = req.originalUrl;
    const q = url.indexOf('?');
    const id = requestedSessionId(url, req.headers.cookie, cookieName);
    const path = (q < 0 ? url : url.slice(0, q)).replace(PATH_PARAM, '');
    req.msm = await manager.begin(req.method, path, q < 0 ? undefined : url.slice(q + 1), id);
  });

  // the session is stored before the response goes out, so the next request,
  // whichever server takes it, finds what this one wrote (in sync mode)
  app.addHook('onSend', async (req, reply, payload) => {
    const r = req.msm;
    if (!r) return payload;
    const { setCookie } = await r.end();
    if (setCookie !== undefined) appendSetCookie(reply, sessionCookie(cookieName, setCookie, contextPath, req.protocol === 'https'));
    return payload;
  });
  // a request that never reached onSend still gives back its share of the session
  const finish = async (req: FastifyRequest): Promise<void> => {
    await req.msm?.end();
  };
  app.addHook('onResponse', finish);
  app.addHook('onRequestAbort', finish);
  if (!o.manager) app.addHook('onClose', async () => manager.close());
}

// fastify-plugin's marker: the decorators and hooks apply to the whole app
(msmSessionsPlugin as unknown as Record<symbol, unknown>)[Symbol.for('skip-override')] = true;
(msmSessionsPlugin as unknown as Record<symbol, unknown>)[Symbol.for('fastify.display-name')] = 'msm-sessions';

export const msmSessions = msmSessionsPlugin;
export default msmSessionsPlugin;
