import { A, C, type Module } from '../conf/module';
import { coreLoc, type HttpCtx, type HttpMainConf, type HttpModuleHooks } from './core-module';
import { DONE, type HttpRequest, type Outcome } from './request';
import type { HttpContext } from './http-context';
import { setContentHandler } from './phases';
import { sendHeader } from './header-filter';

// ngx_http_stub_status_module: the connection counters of the whole server
// (every worker's), as a text page and as $connections_* variables. Where
// the numbers come from is the runtime's business: it registers a source
// for each cycle it runs (its own counters, or all workers' added up).

export interface StubCounters {
  active: number;
  accepted: number;
  handled: number;
  requests: number;
  reading: number;
  writing: number;
  waiting: number;
}

const sources = new WeakMap<HttpContext, () => StubCounters>();

/** The runtime says where a cycle's counters are read. */
export function setStatusSource(ctx: HttpContext, source: () => StubCounters): void {
  sources.set(ctx, source);
}

const NONE: StubCounters = { active: 0, accepted: 0, handled: 0, requests: 0, reading: 0, writing: 0, waiting: 0 };

function counters(r: HttpRequest): StubCounters {
  return sources.get(r.conn.ctx)?.() ?? NONE;
}

/** nginx's exact text, trailing spaces included. */
export function statusText(c: StubCounters): string {
  return `Active connections: ${c.active} \nserver accepts handled requests\n ${c.accepted} ${c.handled} ${c.requests} \n`
    + `Reading: ${c.reading} Writing: ${c.writing} Waiting: ${c.waiting} \n`;
}

/** ngx_http_stub_status_handler */
function stubStatusHandler(r: HttpRequest): Outcome {
  if (r.method !== 'GET' && r.method !== 'HEAD') return 405;
  const body = statusText(counters(r));
  r.trace?.push({ kind: 'content', handler: 'stub_status', detail: '' });
  r.status = 200;
  r.out.contentType = 'text/plain';
  r.out.contentLength = body.length;
  const rc = sendHeader(r);
  if (rc !== DONE) return rc;
  if (r.headerOnly) {
    r.res.end();
    return DONE;
  }
  r.bodyBytesSent += body.length;
  r.res.end(body, 'latin1');
  return DONE;
}

export const STUB_STATUS = 'http_stub_status';

/**
 * $connections_*: as nginx counts them when the variable is read. While a
 * finished request is logged, nginx has taken it off "reading" or "writing"
 * (ngx_http_free_request) and its connection is not "waiting" yet; nodinx
 * counts it off after the log.
 */
const variable = (field: keyof StubCounters) => (r: HttpRequest): string => {
  const c = counters(r);
  const stat = r as HttpRequest & { statWriting?: boolean; statDone?: boolean };
  const counted = r.done && !stat.statDone ? (stat.statWriting ? 'writing' : 'reading') : undefined;
  return String(field === counted ? Math.max(0, c[field] - 1) : c[field]);
};

export const stubStatusModule: Module & HttpModuleHooks = {
  name: STUB_STATUS,
  provides: ['http_stub_status'],
  type: 'http',
  preconfiguration(main: HttpMainConf) {
    main.variables.define('connections_active', variable('active'));
    main.variables.define('connections_reading', variable('reading'));
    main.variables.define('connections_writing', variable('writing'));
    main.variables.define('connections_waiting', variable('waiting'));
  },
  commands: [
    {
      // the argument of old configurations ("stub_status on;") means nothing
      name: 'stub_status',
      type: C.HTTP_SRV | C.HTTP_LOC | A.NOARGS | A.TAKE1,
      set(cf) {
        setContentHandler(coreLoc((cf.ctx as HttpCtx).loc), stubStatusHandler);
        return undefined;
      },
    },
  ],
};
