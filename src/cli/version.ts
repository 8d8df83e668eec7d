import { modules } from '../conf/load';
import { NGINX_COMPAT_VERSION, NODINX_VERSION } from '../version';

// -v and -V. nginx's `configure arguments:` line is how scripts probe an
// nginx for features; nodinx writes it in the same vocabulary, listing what
// it really has: --without-X for a default nginx module it lacks, --with-X
// for an optional one it has.

export { NGINX_COMPAT_VERSION, NODINX_VERSION } from '../version';

/** nginx's http and stream modules that `configure` enables by default */
const DEFAULT_ON = [
  'http_charset', 'http_gzip', 'http_ssi', 'http_userid', 'http_access', 'http_auth_basic', 'http_mirror',
  'http_autoindex', 'http_geo', 'http_map', 'http_split_clients', 'http_referer', 'http_rewrite', 'http_proxy',
  'http_fastcgi', 'http_uwsgi', 'http_scgi', 'http_grpc', 'http_memcached', 'http_limit_conn', 'http_limit_req',
  'http_empty_gif', 'http_browser', 'http_upstream_hash', 'http_upstream_ip_hash', 'http_upstream_least_conn',
  'http_upstream_random', 'http_upstream_keepalive', 'http_upstream_zone',
];

/** optional modules nginx builds only with --with-X */
const OPTIONAL = [
  'http_ssl', 'http_v2', 'http_realip', 'http_addition', 'http_sub', 'http_dav', 'http_flv', 'http_mp4',
  'http_gunzip', 'http_gzip_static', 'http_auth_request', 'http_random_index', 'http_secure_link',
  'http_slice', 'http_stub_status', 'stream', 'stream_realip', 'stream_ssl_preread', 'mail', 'threads',
];

/** nginx module names (without ngx_ and _module) that nodinx provides */
export function providedModules(): Set<string> {
  const set = new Set<string>();
  for (const m of modules()) for (const p of m.provides ?? []) set.add(p);
  return set;
}

export function versionLine(progName: string): string {
  return `${progName} version: nodinx/${NODINX_VERSION} (nginx/${NGINX_COMPAT_VERSION})`;
}

export function configureText(progName: string, prefix: string): string {
  const has = providedModules();
  const args = [
    `--prefix=${prefix}/`,
    '--conf-path=conf/nginx.conf',
    '--error-log-path=logs/error.log',
    '--http-log-path=logs/access.log',
    '--pid-path=logs/nginx.pid',
    ...OPTIONAL.filter((m) => has.has(m)).map((m) => `--with-${m}_module`),
    ...DEFAULT_ON.filter((m) => !has.has(m)).map((m) => `--without-${m}_module`),
  ];
  return [
    versionLine(progName),
    `built with Node.js ${process.versions.node}`,
    'TLS SNI support disabled',
    `configure arguments: ${args.join(' ')}`,
  ].join('\n');
}
