import { findLocation, Found, type FindResult } from './location-tree';
import type { HttpRequest, Outcome } from './request';
import { logError } from './http-context';
import type { LocationConf } from './core-conf';

// ngx_http_core_find_config_phase and what moves a request to another
// location: internal redirects and named locations, each spending one of the
// request's URI changes so that a loop ends in a 500 rather than forever.

const MAX_URI_CHANGES = 10;
export const URI_CHANGES = MAX_URI_CHANGES + 1;

/**
 * ngx_http_internal_redirect: a new URI, the phases again. `reason` names
 * the cause (index, error_page, try_files…) for `nodinx explain`.
 */
export function internalRedirect(r: HttpRequest, uri: string, args: string, hasArgs: boolean, reason = 'internal redirect'): Outcome {
  r.trace?.push({ kind: 'internal-redirect', reason, uri: hasArgs ? `${uri}?${args}` : uri });
  if (--r.uriChanges === 0) {
    logError(r, 'error', `rewrite or internal redirection cycle while internally redirecting to "${uri}"`);
    return 500;
  }
  r.uri = uri;
  r.args = args;
  r.hasArgs = hasArgs;
  r.internal = true;
  r.filename = undefined;
  return { kind: 'uri' };
}

/** ngx_http_named_location. */
export function namedLocation(r: HttpRequest, name: string, reason = 'named location'): Outcome {
  const loc = r.server.core.named.get(name);
  r.trace?.push({ kind: 'named-location', reason, name });
  if (!loc) {
    logError(r, 'error', `could not find named location "${name}"`);
    return 500;
  }
  if (--r.uriChanges === 0) {
    logError(r, 'error', `rewrite or internal redirection cycle while redirect to named location "${name}"`);
    return 500;
  }
  r.internal = true;
  r.filename = undefined;
  return { kind: 'named', loc };
}

const HEX = '0123456789ABCDEF';

/** ngx_escape_uri(NGX_ESCAPE_URI): space, #, %, ?, controls and non-ASCII. */
export function escapeUri(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x23 || c === 0x25 || c === 0x3f || c >= 0x7f) out += '%' + HEX[c >> 4] + HEX[c & 0xf];
    else out += s[i];
  }
  return out;
}

const modifierOf = (loc: LocationConf): string =>
  loc.exact ? '= ' : loc.noregex ? '^~ ' : loc.regex ? (loc.regexCaseless ? '~* ' : '~ ') : '';

function traceLocation(r: HttpRequest, found: FindResult, tried: LocationConf[]): void {
  const loc = found.loc;
  r.trace!.push({
    kind: 'location',
    where: loc ? { file: loc.file, line: loc.line } : undefined,
    name: loc ? loc.name : '(server level)',
    modifier: loc ? modifierOf(loc).trim() : '',
    rule: `${found.rule ?? 'no location matched'} (URI "${r.uri}")`,
    tried: tried.map((l) => `${modifierOf(l)}${l.name} (${l.file}:${l.line})`),
  });
}

/** ngx_http_core_find_config_phase. */
export function findConfig(r: HttpRequest): Outcome {
  const srvLoc = r.server.core.loc!;
  const tried: LocationConf[] | undefined = r.trace ? [] : undefined;
  const found = findLocation(srvLoc, r.uri, tried);
  r.loc = found.loc ?? srvLoc;
  if (tried) traceLocation(r, found, tried);
  if (found.captures) {
    r.captures = found.captures;
    if (found.groups) setNamedCaptures(r, found.groups);
  }
  const loc = r.loc;
  if (!r.internal && loc.internal) return 404;
  updateLocationConfig(r);
  const max = loc.clientMaxBodySize ?? 1024 * 1024;
  if (r.contentLength > 0 && max > 0 && max < r.contentLength) {
    logError(r, 'error', `client intended to send too large body: ${r.contentLength} bytes`);
    return 413;
  }
  if (found.found === Found.Redirect) {
    r.out.location = escapeUri(loc.name) + (r.args !== '' ? '?' + r.args : '');
    return 301;
  }
  return undefined;
}

export function setNamedCaptures(r: HttpRequest, groups: Record<string, string | undefined>): void {
  const index = r.conn.ctx.main.variables.userIndex;
  for (const [name, value] of Object.entries(groups)) {
    const i = index.get(name);
    if (i !== undefined) r.vars[i] = value ?? '';
  }
}

/** ngx_http_update_location_config: what the location says about keep-alive. */
function updateLocationConfig(r: HttpRequest): void {
  if (!r.keepalive) return;
  const loc = r.loc;
  if (loc.keepaliveTimeout === 0) r.keepalive = false;
  else if (r.conn.requests >= (loc.keepaliveRequests ?? 1000)) r.keepalive = false;
  else if (Date.now() - r.conn.startMs > 3600000) r.keepalive = false;
  else if (r.quirks.msie6 && r.method === 'POST') r.keepalive = false;
  else if (r.quirks.safari) r.keepalive = false;
}
