import type { HttpRequest } from '../http/request';
import type { LogLevel } from '../conf/errors';

// The contract between the upstream block (peer groups, balancers, passive
// health) and its users (proxy_pass, sticky, explain). Balancers only
// choose; a peer counts its own failures and says whether it is available,
// as in nginx's ngx_http_upstream_round_robin.c where every other method
// builds on the round-robin peer data.

/** One `server` of an upstream block after its name was resolved (one per address). */
export interface Peer {
  /** how nginx names it in $upstream_addr and log lines: "127.0.0.1:8080", "[::1]:80", "unix:/tmp/s" */
  readonly name: string;
  /** the `server` directive's first argument as written ("backend1.example.com:8080") */
  readonly server: string;
  readonly host: string;
  readonly port: number;
  /** for unix: peers */
  readonly socketPath?: string;
  readonly weight: number;
  /** 0: never counted out */
  readonly maxFails: number;
  /** ms */
  readonly failTimeout: number;
  /** 0: unlimited */
  readonly maxConns: number;
  readonly backup: boolean;
  /** `down` in the config */
  readonly down: boolean;
  /** `route=` for sticky route (issue 8) */
  readonly route?: string;

  // --- run-time state, per worker (no shared zone) ---
  /** requests in flight to this peer */
  conns: number;
  /** failures counted since `checked` */
  fails: number;
  /** ms timestamps as nginx's peer->accessed / peer->checked */
  accessed: number;
  checked: number;
  /** smooth weighted round robin's current and effective weights */
  currentWeight: number;
  effectiveWeight: number;

  /** ngx_http_upstream_rr: not down, not counted out (max_fails within fail_timeout), not full (max_conns) */
  available(now: number): boolean;
}

/** Per-request balancing state (nginx's ngx_http_upstream_rr_peer_data_t and the method's own). */
export interface PickState {
  readonly r: HttpRequest;
  /** peers tried for this request, never picked again */
  readonly tried: Set<Peer>;
  /** tries left (proxy_next_upstream_tries and the number of peers) */
  tries: number;
  /** what the last pick was decided by, for `nodinx explain` ("weight 3 of 5", "ip_hash 127.0.0.1", "backup") */
  reason?: string;
  /** state a method keeps between tries of one request (hash rehashes, ip_hash's tries...) */
  data?: unknown;
  /** the peer of the current try (nginx's rrp->current) */
  current?: Peer;
  /** the primaries are exhausted: picks come from the backup servers (rrp->peers = peers->next) */
  inBackup?: boolean;
  /**
   * How freePeer writes to the error log. The proxy sets it to add what
   * nginx adds ("while connecting to upstream", `upstream: "..."`);
   * unset, lines go through logError(r, ...) as they are.
   */
  log?: (level: LogLevel, message: string) => void;
  /** a sticky method pinned this request to a peer (route, cookie, learn) */
  sticky?: { peer?: Peer; reason: string };
}

/** What select() answers when nothing can be picked: nginx's NGX_BUSY, logged as "no live upstreams". */
export const NO_LIVE = 'no live upstreams' as const;

/** A load-balancing method: `round robin`, least_conn, ip_hash, hash, random... */
export interface Balancer {
  readonly method: string;
  /** per-request setup, as the methods' init_peer: the hash key, the client address... */
  initPeer?(group: UpstreamGroup, state: PickState): void;
  /**
   * picks a peer for this try from the set the request is in (the
   * primaries, or the backups once state.inBackup), or NO_LIVE; must not
   * pick one in state.tried
   */
  select(group: UpstreamGroup, state: PickState): Peer | typeof NO_LIVE;
  /**
   * Work a method must finish before the first select() of a request and
   * cannot do synchronously (`sticky learn ... memcached=`: the session
   * lookup). The proxy calls it after initPick and before the first
   * getPeer, and awaits it only when it returns a promise; it never rejects.
   */
  prepare?(group: UpstreamGroup, state: PickState): Promise<void> | void;
  /** what the method decides by, for `nodinx explain` ("hash $request_uri consistent") */
  describe?(group: UpstreamGroup, state?: PickState): string[];
  /**
   * Sticky methods (cookie, learn): the upstream answered on `peer`. The
   * proxy calls it once per request, after the response header of the
   * last try was read and before it is sent on, with the upstream's
   * response headers (lower-case names) and the headers the client will
   * get, to which a cookie may be added.
   */
  responded?(group: UpstreamGroup, state: PickState, peer: Peer, upstreamHeaders: Array<[string, string]>, out: Array<[string, string]>): void;
}

export interface KeepaliveConf {
  /** keepalive N: idle connections cached per worker; 0: none */
  max: number;
  requests: number;
  /** ms */
  time: number;
  /** ms */
  timeout: number;
}

/** An `upstream` block, or the implicit group a `proxy_pass http://host:port` makes. */
export interface UpstreamGroup {
  readonly name: string;
  /** where it was defined ("" for implicit groups made at load) */
  readonly file: string;
  readonly line: number;
  /** made by proxy_pass from a host name, not an upstream block */
  readonly implicit: boolean;
  readonly peers: Peer[];
  /** backup servers, used only when no primary is available */
  readonly backup: Peer[];
  readonly balancer: Balancer;
  readonly keepalive: KeepaliveConf;
  /** `zone NAME [SIZE]`, accepted; the state stays per worker */
  readonly zone?: string;
  /** the port of an implicit group (0 for upstream blocks), as nginx's uscf->port */
  readonly port: number;
}

/**
 * Starts a request's balancing (ngx_http_upstream_init_round_robin_peer and
 * the methods' init_peer): tries = number of peers, capped by
 * proxy_next_upstream_tries when it is not 0.
 */
export type InitPick = (group: UpstreamGroup, r: HttpRequest, maxTries: number) => PickState;

/**
 * Ends one try (ngx_http_upstream_free_round_robin_peer): conns--, and on a
 * failure fails++/checked/accessed and "upstream server temporarily
 * disabled" once max_fails is reached; on success after a failure the
 * fail count resets once fail_timeout has passed, as nginx does.
 */
export type FreePeer = (group: UpstreamGroup, peer: Peer, state: PickState, failed: boolean) => void;
