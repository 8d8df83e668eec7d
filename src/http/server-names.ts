import { ConfError } from '../conf/errors';
import type { Cf } from '../conf/module';
import type { HttpMainConf, HttpServerConf, ServerNameConf } from './core-module';
import type { ListenConf } from './listen';

// Which virtual server answers: by the address the connection came in on,
// then by Host — exact name, longest "*.x" wildcard, longest "x.*"
// wildcard, first regex in config order, else the default server of that
// address (ngx_http_add_listen, ngx_http_optimize_servers,
// ngx_http_find_virtual_server).

export interface AddrEntry {
  listen: ListenConf;
  servers: HttpServerConf[];
  defaultServer?: HttpServerConf;
  exact: Map<string, HttpServerConf>;
  /** "*.example.com" as ".example.com" → server, longest first */
  head: Array<[string, HttpServerConf]>;
  /** "mail.*" as "mail." → server, longest first */
  tail: Array<[string, HttpServerConf]>;
  regexes: Array<[ServerNameConf, HttpServerConf]>;
}

export interface PortEntry {
  /** the socket to bind: the wildcard address if any listen has it */
  addrs: AddrEntry[];
}

export interface AddressMap {
  /** "port/family" or "unix:path" → entries */
  ports: Map<string, PortEntry>;
}

const portKey = (ls: ListenConf): string => (ls.family === 'unix' ? ls.text : `${ls.port}/${ls.family}`);

/** At each `listen`, as ngx_http_add_addresses: duplicates are errors there. */
export function addListen(cf: Cf, main: HttpMainConf & { pending?: Map<string, AddrEntry> }, server: HttpServerConf, ls: ListenConf): void {
  main.pending ??= new Map();
  const entry = main.pending.get(ls.text);
  if (!entry) {
    main.pending.set(ls.text, {
      listen: ls, servers: [server], defaultServer: ls.defaultServer ? server : undefined,
      exact: new Map(), head: [], tail: [], regexes: [],
    });
    return;
  }
  if (entry.servers.includes(server)) throw cf.error(`a duplicate listen ${ls.text}`);
  entry.servers.push(server);
  if (ls.hasSocketOptions || ls.bind) {
    if (entry.listen.hasSocketOptions || entry.listen.bind) throw cf.error(`duplicate listen options for ${ls.text}`);
    entry.listen = { ...ls, defaultServer: entry.listen.defaultServer || ls.defaultServer };
  }
  if (ls.defaultServer) {
    if (entry.defaultServer) throw cf.error(`a duplicate default server for ${ls.text}`);
    entry.defaultServer = server;
  }
}

type Warn = (reason: string, file?: string, line?: number) => void;

function addName(entry: AddrEntry, sn: ServerNameConf, server: HttpServerConf, warn: Warn, claimed: Map<string, HttpServerConf>): void {
  const conflict = (name: string): boolean => {
    const prev = claimed.get(name);
    if (prev && prev !== server) {
      warn(`conflicting server name "${sn.name}" on ${entry.listen.text}, ignored`, server.file, server.line);
      return true;
    }
    claimed.set(name, server);
    return prev === server;
  };
  if (sn.regex) {
    entry.regexes.push([sn, server]);
    return;
  }
  const name = sn.name;
  const star = name.indexOf('*');
  if (name.startsWith('.') ) {
    if (name.length === 1 || star >= 0) throw invalid(name, entry);
    if (conflict(name.slice(1))) return;
    entry.exact.set(name.slice(1), server);
    claimed.set('*' + name, server);
    entry.head.push([name, server]);
    return;
  }
  if (star < 0) {
    if (!conflict(name)) entry.exact.set(name, server);
    return;
  }
  if (name.startsWith('*.') && name.indexOf('*', 1) < 0 && name.length > 2) {
    if (!conflict(name)) entry.head.push([name.slice(1), server]);
    return;
  }
  if (name.endsWith('.*') && star === name.length - 1 && name.length > 2) {
    if (!conflict(name)) entry.tail.push([name.slice(0, -1), server]);
    return;
  }
  throw invalid(name, entry);
}

function invalid(name: string, entry: AddrEntry): ConfError {
  return new ConfError(`invalid server name or wildcard "${name}" on ${entry.listen.text}`);
}

export function buildAddressMap(main: HttpMainConf & { pending?: Map<string, AddrEntry> }, warn: Warn): AddressMap {
  const ports = new Map<string, PortEntry>();
  for (const entry of main.pending?.values() ?? []) {
    entry.defaultServer ??= entry.servers[0];
    // nginx hashes names only where there is a choice to make (or captures
    // to take): a lone server answers everything, whatever its names
    const captures = entry.defaultServer.core.names.some((n) => n.regex && n.regex.captures > 0);
    if (entry.servers.length > 1 || captures) {
      const claimed = new Map<string, HttpServerConf>();
      for (const server of entry.servers) {
        for (const sn of server.core.names) addName(entry, sn, server, warn, claimed);
      }
    }
    entry.head.sort((a, b) => b[0].length - a[0].length);
    entry.tail.sort((a, b) => b[0].length - a[0].length);
    const key = portKey(entry.listen);
    let port = ports.get(key);
    if (!port) ports.set(key, (port = { addrs: [] }));
    port.addrs.push(entry);
  }
  // the wildcard address last, so that specific addresses are tried first
  for (const port of ports.values()) port.addrs.sort((a, b) => Number(a.listen.wildcard) - Number(b.listen.wildcard));
  return { ports };
}

/**
 * How many sockets nginx opens for these addresses: on a port with a
 * wildcard address, the wildcard and the addresses with `bind`; else each.
 */
export function listeningCount(map: AddressMap): number {
  let n = 0;
  for (const port of map.ports.values()) {
    const wildcard = port.addrs.some((a) => a.listen.wildcard);
    n += wildcard ? 1 + port.addrs.filter((a) => !a.listen.wildcard && a.listen.bind).length : port.addrs.length;
  }
  return n;
}

/** The server for a Host (lower-cased, without port) on an address entry. */
export function findServer(entry: AddrEntry, host: string): { server: HttpServerConf; captures?: RegExpExecArray; rule: string } {
  const exact = entry.exact.get(host);
  if (exact) return { server: exact, rule: 'exact server_name' };
  if (host !== '') {
    for (const [suffix, server] of entry.head) {
      if (host.endsWith(suffix) && host.length > suffix.length) return { server, rule: `longest leading wildcard *${suffix}` };
    }
    for (const [prefix, server] of entry.tail) {
      if (host.startsWith(prefix) && host.length > prefix.length) return { server, rule: `longest trailing wildcard ${prefix}*` };
    }
    for (const [sn, server] of entry.regexes) {
      const m = sn.regex!.regex.exec(host);
      if (m) return { server, captures: m, rule: `first matching regex ${sn.name}` };
    }
  }
  const rule = entry.servers.length === 1 ? 'the only server on this address'
    : entry.defaultServer!.core.listens.some((l) => l.defaultServer && l.text === entry.listen.text)
      ? 'no name matched: the default_server of this address'
      : 'no name matched: the first server of this address';
  return { server: entry.defaultServer!, rule };
}
