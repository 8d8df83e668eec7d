import * as fs from 'node:fs';
import { fsPath } from '../conf/bytes';
import { loadConfig, type Cycle, type LoadOptions } from '../conf/load';
import type { LogLevel } from '../conf/errors';

// What the master and its workers say to each other over the IPC channel.
// nginx's workers are forks that inherit the master's parsed configuration;
// nodinx's workers parse it again, from the very bytes the master read, so
// that a file edited since (a reload about to come) cannot make one worker
// serve another configuration than the master checked.

/** The configuration files the master read, byte strings by name. */
export type ConfigFiles = Array<[string, string]>;

/** loadConfig, keeping a copy of every file read. */
export function loadRecorded(opts: LoadOptions): { cycle: Cycle; files: ConfigFiles } {
  const files: ConfigFiles = [];
  const cycle = loadConfig({
    ...opts,
    readFile: (file) => {
      const data = fs.readFileSync(fsPath(file));
      files.push([file, data.toString('latin1')]);
      return data;
    },
  });
  return { cycle, files };
}

/** loadConfig from the master's copy; a file it did not read is an error, not a surprise. */
export function loadFromCopy(opts: LoadOptions, files: ConfigFiles): Cycle {
  const copy = new Map(files);
  return loadConfig({
    ...opts,
    readFile: (file) => {
      const text = copy.get(file);
      if (text === undefined) throw Object.assign(new Error(`${file} was not read by the master process`), { code: 'ENOENT', errno: 2 });
      return Buffer.from(text, 'latin1');
    },
  });
}

/** How the command line says to load the configuration (-p, -c, -g, -e). */
export type LoadOptionsWithLog = LoadOptions & { errorLogOption?: string };

/** master → worker, first: what to load and how to run. */
export interface CycleMessage {
  type: 'cycle';
  load: LoadOptionsWithLog;
  files: ConfigFiles;
  /** the bind keys a 'socket' message will follow for */
  binds: string[];
  /** the worker's slot in the stats file, which is fd STATS_FD */
  slot: number;
  /** who to become once listening (a root master) */
  credentials?: { user: string; uid: number; gid: number };
  /** the master is a daemon: nobody reads the worker's stderr */
  daemon: boolean;
}

/** master → worker: one listening socket, the handle sent along. */
export interface SocketMessage {
  type: 'socket';
  key: string;
}

/** master → worker: nginx's NGX_CMD_QUIT, NGX_CMD_TERMINATE, NGX_CMD_REOPEN. */
export interface CommandMessage {
  type: 'quit' | 'terminate' | 'reopen';
}

export type MasterMessage = CycleMessage | SocketMessage | CommandMessage;

/** worker → master */
export type WorkerMessage =
  | { type: 'ready' }
  /** the worker cannot run; it exits with code 2 after saying why */
  | { type: 'fatal'; level: LogLevel; message: string };

/** The descriptor a worker finds the stats file on (the fifth in its stdio). */
export const STATS_FD = 4;

/** nginx's exit code for a worker that must not be respawned. */
export const FATAL_EXIT = 2;
