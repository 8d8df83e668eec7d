// What `nodinx explain` reports: the steps a request takes through the same
// code that serves it. Modules push events when a request carries a trace;
// a served request carries none, so serving pays one undefined check.

export interface Where {
  file: string;
  line: number;
}

export type TraceEvent =
  | { kind: 'listen'; listen: string; servers: number }
  | { kind: 'server'; where: Where; names: string[]; rule: string }
  | { kind: 'location'; where?: Where; name: string; modifier: string; rule: string; tried?: string[] }
  | { kind: 'location-redirect'; where: Where; name: string }
  | { kind: 'rewrite'; where: Where; regex: string; matched: boolean; uri?: string; flag?: string }
  | { kind: 'return'; where: Where; code: number; text?: string }
  | { kind: 'set'; where: Where; variable: string; value: string }
  | { kind: 'if'; where: Where; condition: string; result: boolean }
  | { kind: 'break'; where: Where }
  | { kind: 'try_files'; where: Where; tried: string; found: boolean }
  | { kind: 'internal-redirect'; reason: string; uri: string }
  | { kind: 'named-location'; reason: string; name: string }
  | { kind: 'access'; module: string; result: string }
  | { kind: 'content'; handler: string; detail: string }
  | { kind: 'status'; code: number; reason: string }
  /** the sticky rule of an upstream and the server it led to (or the balancer's, when it led nowhere) */
  | { kind: 'sticky'; upstream: string; rule: string; peer: string }
  /** proxy_pass reached: explain stops here, nothing connects */
  | { kind: 'proxy_pass'; where: Where; url: string }
  /** the group proxy_pass names; `where` is the upstream block, or the proxy_pass that made it (undefined: made at run time) */
  | { kind: 'upstream'; name: string; where?: Where; implicit: boolean; method: string; peers: string[] }
  /** the request head the upstream would get */
  | { kind: 'upstream-request'; line: string; headers: Array<[string, string]> }
  /**
   * The peers the balancer would pick, in order: the first for the next
   * request, each further one if the try before it fails (as far as
   * proxy_next_upstream and the tries allow); peer is "no live upstreams"
   * when nothing can be picked.
   */
  | { kind: 'peer'; attempt: number; peer: string; reason: string };

export type Trace = TraceEvent[];

/** Where `nodinx explain` puts the trace on its connection's socket. */
export const TRACE = Symbol('nodinx.trace');
