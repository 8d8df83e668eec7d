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
export async function accessPhase(r: HttpRequest, handlers: PhaseHandler[]): Promise<Outcome> {
  if (handlers.length === 0) return undefined;
  const any = r.loc.satisfy === 'any';
  let accessCode = 0;
  for (const h of handlers) {
    const rc = await h(r);
    if (rc === undefined) continue;
    if (typeof rc === 'object' || rc === DONE) return rc;
    if (rc === GRANTED) {
      if (!any) continue;
      // nginx 1.22 unhashes only the last WWW-Authenticate it set
      const last = challenges.get(r);
      if (last) {
        const i = r.out.headers.indexOf(last);
        if (i >= 0) r.out.headers.splice(i, 1);
        challenges.delete(r);
      }
      return undefined;
    }
    if (any && (rc === 403 || rc === 401)) {
      if (accessCode !== 401) accessCode = rc;
      continue;
    }
    return rc;
  }
  if (accessCode === 403) logError(r, 'error', 'access forbidden by rule');
  return accessCode || undefined;
}
