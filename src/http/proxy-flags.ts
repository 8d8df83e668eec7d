// The proxy module's name and nginx's bit values for proxy_next_upstream and
// proxy_ignore_headers, apart so that every proxy file can import them.

export const PROXY = 'http_proxy';

/** NGX_HTTP_UPSTREAM_FT_* */
export const FT = {
  error: 0x2, timeout: 0x4, invalid_header: 0x8, http_500: 0x10, http_502: 0x20, http_503: 0x40, http_504: 0x80,
  http_403: 0x100, http_404: 0x200, http_429: 0x400, updating: 0x800, busy_lock: 0x1000, max_waiting: 0x2000,
  non_idempotent: 0x4000, nolive: 0x40000000, off: 0x80000000,
} as const;

/** NGX_HTTP_UPSTREAM_IGN_* */
export const IGN = {
  'x-accel-redirect': 0x2, 'x-accel-expires': 0x4, expires: 0x8, 'cache-control': 0x10, 'set-cookie': 0x20,
  'x-accel-limit-rate': 0x40, 'x-accel-buffering': 0x80, 'x-accel-charset': 0x100, vary: 0x200,
} as Record<string, number>;

