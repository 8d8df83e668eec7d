import { DONE, type HttpRequest, type Outcome, type PhaseHandler } from './request';
import { logError } from './http-context';

// nginx's access and post-access phases (ngx_http_core_access_phase,
// ngx_http_core_post_access_phase): how the answers of access modules
// (allow/deny, auth_basic) combine under `satisfy`. With `all` the first
// refusal ends the request; with `any` the first grant ends the phase and a
// refusal only counts if nothing grants — a 401 wins over a 403, so that
// the client is asked for a password rather than turned away.

/** An access handler's NGX_OK: access granted (undefined is NGX_DECLINED). */
export const GRANTED = -1;

const challenges = new WeakMap<HttpRequest, [string, string]>();

/** ngx_http_auth_basic_set_realm's header, remembered so that a later grant can take it back. */
export function challenge(r: HttpRequest, value: string): void {
  const h: [string, string] = ['WWW-Authenticate', value];
  r.out.headers.push(h);
  challenges.set(r, h);
}

/** Runs the access handlers; undefined lets the request go on to the content. */
export function accessPhase(r: HttpRequest, handlers: PhaseHandler[]): Outcome | Promise<Outcome> {
  // handlers without a directive in the location decline at once: no promise is made then
  const st: AccessState = { any: r.loc.satisfy === 'any', code: 0 };
  for (let i = 0; i < handlers.length; i++) {
    const rc = handlers[i](r);
    if (rc instanceof Promise) return rc.then((v) => afterAsync(r, handlers, i, st, v));
    const end = combine(r, st, rc);
    if (end !== NEXT) return end;
  }
  return accessEnd(r, st);
}

interface AccessState {
  any: boolean;
  /** the refusal kept while `satisfy any` looks for a grant */
  code: number;
}

const NEXT = Symbol('next handler');

async function afterAsync(r: HttpRequest, handlers: PhaseHandler[], i: number, st: AccessState, v: Outcome): Promise<Outcome> {
  let end = combine(r, st, v);
  while (end === NEXT && ++i < handlers.length) end = combine(r, st, await handlers[i](r));
  return end === NEXT ? accessEnd(r, st) : end;
}

/** One handler's answer under `satisfy`: the phase's outcome, or NEXT to ask the next handler. */
function combine(r: HttpRequest, st: AccessState, rc: Outcome): Outcome | typeof NEXT {
  if (rc === undefined) return NEXT;
  if (typeof rc === 'object' || rc === DONE) return rc;
  if (rc === GRANTED) {
    if (!st.any) return NEXT;
    // nginx 1.22 unhashes only the last WWW-Authenticate it set
    const last = challenges.get(r);
    if (last) {
      const i = r.out.headers.indexOf(last);
      if (i >= 0) r.out.headers.splice(i, 1);
      challenges.delete(r);
    }
    return undefined;
  }
  if (st.any && (rc === 403 || rc === 401)) {
    if (st.code !== 401) st.code = rc;
    return NEXT;
  }
  return rc;
}

function accessEnd(r: HttpRequest, st: AccessState): Outcome {
  if (st.code === 403) logError(r, 'error', 'access forbidden by rule');
  return st.code || undefined;
}
