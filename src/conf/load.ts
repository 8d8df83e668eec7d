import * as path from 'node:path';
import { Analyzer, DirectiveTable } from './analyzer';
import { ConfError } from './errors';
import { toBytes } from './bytes';
import { coreModule, createCoreConf, createEventsConf, eventsModule, type CoreConf, type EventsConf } from './core';
import type { CycleConf, Module } from './module';
import { parseConfig, type ParseResult } from './parser';
import { httpBlockModule, type HttpMainConf } from '../http/core-module';
import { httpModules } from '../http/modules';
import { listeningCount } from '../http/server-names';

// Reads a configuration the way ngx_init_cycle does: parse, run every
// directive through the checker, then the checks nginx makes at the end.

export interface LoadOptions {
  /** the prefix, with or without a trailing slash */
  prefix: string;
  /** the main config file, absolute or relative to the prefix */
  confFile: string;
  /** -g directives */
  globals?: string;
  /** how files are read (a worker reads the master's copy of them) */
  readFile?: (file: string) => Buffer;
}

export interface Cycle extends CycleConf {
  parse: ParseResult;
  core: CoreConf;
  events: EventsConf;
  http?: HttpMainConf;
}

let table: DirectiveTable | undefined;

export function modules(): Module[] {
  return [coreModule, eventsModule, httpBlockModule, ...httpModules()];
}

export function directiveTable(): DirectiveTable {
  table ??= new DirectiveTable(modules());
  return table;
}

export function resolvePaths(opts: LoadOptions): { prefix: string; confFile: string; confPrefix: string } {
  const prefix = toBytes(path.resolve(opts.prefix));
  const confFile = path.resolve(prefix, toBytes(opts.confFile));
  return { prefix, confFile, confPrefix: path.dirname(confFile) };
}

export function loadConfig(opts: LoadOptions): Cycle {
  const { prefix, confFile, confPrefix } = resolvePaths(opts);
  const parse = parseConfig(confFile, { confPrefix, globals: opts.globals, readFile: opts.readFile });
  const core = createCoreConf();
  const events = createEventsConf();
  const cycle: Cycle = {
    prefix, confPrefix, confFile, warnings: [], parse, core, events,
    confs: { core, events },
  };
  const analyzer = new Analyzer(directiveTable(), parse, cycle);
  try {
    analyzer.run(cycle.confs);
  } catch (e) {
    if (e instanceof RangeError) {
      // deep nesting beyond the stack: say so instead of crashing
      throw new ConfError('configuration nested too deeply', confFile, undefined, 'emerg', { cause: e });
    }
    throw e;
  }
  if (parse.error) throw parse.error;
  cycle.http = cycle.confs.http;
  const late = (reason: string): ConfError => Object.assign(new ConfError(reason), { afterParse: true });
  if (!events.seen) throw late('no "events" section in configuration');
  // ngx_event_init_conf: one connection must be left over for a client
  const connections = events.workerConnections ?? 512;
  const listening = cycle.http?.addresses ? listeningCount(cycle.http.addresses) : 0;
  if (connections < listening + 1) {
    throw late(`${connections} worker_connections are not enough for ${listening} listening sockets`);
  }
  return cycle;
}
