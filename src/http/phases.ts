import type { HttpModuleHooks, LocationConf } from './core-module';
import { DONE, runHandlers, type HttpRequest, type Outcome, type PhaseHandler } from './request';
import { logError } from './http-context';
import { findConfig } from './find-config';
import { sendSpecial, specialResponse } from './special-response';
import { headerFilters, sendHeader } from './header-filter';
import { directoryHandlers, fileHandlers, staticContent } from './static-module';
import { accessPhase } from './access-phase';

// The request's way through nginx's phases (ngx_http_core_run_phases):
// find the location, let modules act, produce content, and finalize. What a
// status turns into is special-response.ts's business; the location search
// and redirects are find-config.ts's; the header filters are header-filter.ts's.

/** Handlers other modules add, per phase, run in order. */
export const phaseHandlers = {
  serverRewrite: [] as PhaseHandler[],
  rewrite: [] as PhaseHandler[],
  preaccess: [] as PhaseHandler[],
  access: [] as PhaseHandler[],
  precontent: [] as PhaseHandler[],
};

let installed = false;

/** Installs the modules' handlers once, in module order, as nginx's phase engine is built. */
export function installHandlers(modules: HttpModuleHooks[]): void {
  if (installed) return;
  installed = true;
  for (const { handlers: h } of modules) {
    if (!h) continue;
    if (h.serverRewrite) phaseHandlers.serverRewrite.push(h.serverRewrite);
    if (h.rewrite) phaseHandlers.rewrite.push(h.rewrite);
    // nginx runs a phase's handlers in the reverse order of its modules: access before auth_basic
    if (h.access) phaseHandlers.access.unshift(h.access);
    if (h.precontent) phaseHandlers.precontent.push(h.precontent);
    if (h.directory) directoryHandlers.push(h.directory);
    if (h.file) fileHandlers.push(h.file);
    if (h.headerFilter) headerFilters.push(h.headerFilter);
  }
}

const contentHandlers = new WeakMap<LocationConf, PhaseHandler>();

/** A module that answers a location itself (proxy_pass, return...) sets its handler. */
export function setContentHandler(loc: LocationConf, handler: PhaseHandler): void {
  contentHandlers.set(loc, handler);
}


type Start = 'server-rewrite' | 'find-config' | 'rewrite';

async function phases(r: HttpRequest, start: Start): Promise<Outcome> {
  let rc: Outcome;
  // what a phase gave: awaited only if it is a promise
  let step: Outcome | Promise<Outcome>;
  if (start === 'server-rewrite') {
    r.loc = r.server.core.loc!;
    step = runHandlers(phaseHandlers.serverRewrite, r);
    rc = step instanceof Promise ? await step : step;
    if (rc !== undefined) return rc;
  }
  for (;;) {
    if (start !== 'rewrite') {
      rc = findConfig(r);
      if (rc !== undefined) return rc;
    }
    start = 'find-config';
    step = runHandlers(phaseHandlers.rewrite, r);
    rc = step instanceof Promise ? await step : step;
    if (rc === undefined) break;
    if (typeof rc === 'object' && rc.kind === 'find') {
      if (--r.uriChanges === 0) {
        logError(r, 'error', `rewrite or internal redirection cycle while processing "${r.uri}"`);
        return 500;
      }
      continue;
    }
    return rc;
  }
  step = runHandlers(phaseHandlers.preaccess, r);
  rc = step instanceof Promise ? await step : step;
  if (rc !== undefined) return rc;
  step = accessPhase(r, phaseHandlers.access);
  rc = step instanceof Promise ? await step : step;
  if (rc !== undefined) return rc;
  step = runHandlers(phaseHandlers.precontent, r);
  rc = step instanceof Promise ? await step : step;
  if (rc !== undefined) return rc;
  // an `if` block without a handler of its own keeps its location's (ngx_http_update_location_config)
  const content = contentHandlers.get(r.loc) ?? (r.loc.noname && r.loc.parent ? contentHandlers.get(r.loc.parent) : undefined);
  step = content ? content(r) : staticContent(r);
  return step instanceof Promise ? await step : step;
}

/** Runs a request to its end: phases, redirects, special responses. */
export async function runRequest(r: HttpRequest, first?: number): Promise<void> {
  let rc: Outcome;
  try {
    rc = first !== undefined ? first : await phases(r, 'server-rewrite');
    for (let guard = 0; guard < 100; guard++) {
      if (rc === undefined || rc === DONE) break;
      if (typeof rc === 'object') {
        rc = rc.kind === 'named' ? ((r.loc = rc.loc), await phases(r, 'rewrite')) : await phases(r, 'server-rewrite');
        continue;
      }
      rc = finalize(r, rc);
    }
    if (rc === undefined && !r.headerSent) {
      // every handler declined: ngx_http_core_content_phase's last word
      logError(r, 'error', 'no handler found');
      rc = finalize(r, 404);
      if (rc !== DONE && rc !== undefined && typeof rc === 'number') finalize(r, 500);
    }
  } catch (e) {
    logError(r, 'alert', `internal error: ${(e as Error).stack ?? e}`);
    if (!r.headerSent) {
      try {
        sendSpecial(r, 500);
      } catch {
        r.res.destroy();
      }
    } else r.res.destroy();
  }
}

/** ngx_http_finalize_request for a status code. */
export function finalize(r: HttpRequest, rc: number): Outcome {
  if (r.clientGone) {
    r.status ||= 499;
    return DONE;
  }
  if (r.headerSent) {
    if (!r.res.writableEnded) r.res.destroy();
    return DONE;
  }
  if (rc === 444 || rc === 499 || rc === 408) {
    r.status = rc;
    // no response, but the access log says why (ngx_http_terminate_request), not 499
    r.errStatus = rc;
    r.keepalive = false;
    r.res.destroy();
    r.conn.socket.destroy();
    return DONE;
  }
  if (rc >= 300 || rc === 201 || rc === 204) return specialResponse(r, rc);
  // a bare 2xx from a handler that sent nothing: a header-only answer
  r.status = rc;
  r.out.contentLength = 0;
  sendHeader(r);
  r.res.end();
  return DONE;
}
