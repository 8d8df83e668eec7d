import * as os from 'node:os';
import { A, C, TAKE12, type Cf, type Module } from './module';
import { parseNumber } from './values';
import { flagValue, msecValue, numberValue, offsetValue, slot } from './slots';
import type { LogLevel } from './errors';
import { getgrnam, getpwnam, isRoot } from '../process/users';

// The main-context directives: ngx_core_module, ngx_errlog_module,
// ngx_events_module, ngx_event_core_module and ngx_regex_module.

export interface ErrorLogSpec {
  /** absolute path, or 'stderr' */
  file: string;
  level: LogLevel;
  debug: boolean;
  /** error_log_json (nodinx's own): one JSON object a line */
  json?: boolean;
}

export interface CoreConf {
  daemon?: boolean;
  masterProcess?: boolean;
  workerProcesses?: number;
  pid?: string;
  lockFile?: string;
  user?: [string, string | undefined];
  env: Array<{ name: string; value?: string }>;
  workerRlimitNofile?: number;
  workerRlimitCore?: number;
  workerPriority?: number;
  workerCpuAffinity?: string[];
  threadPools: string[];
  workerShutdownTimeout?: number;
  timerResolution?: number;
  workingDirectory?: string;
  pcreJit?: boolean;
  errorLogs: ErrorLogSpec[];
  /** the -e option, which replaces the default error log */
  modulesUsed: boolean;
}

export interface EventsConf {
  seen: boolean;
  workerConnections?: number;
  use?: string;
  workerAioRequests?: number;
  multiAccept?: boolean;
  acceptMutex?: boolean;
  acceptMutexDelay?: number;
}

export const LOG_LEVELS: LogLevel[] = ['emerg', 'alert', 'crit', 'error', 'warn', 'notice', 'info', 'debug'];
const DEBUG_FACILITIES = ['debug_core', 'debug_alloc', 'debug_mutex', 'debug_event', 'debug_http', 'debug_mail', 'debug_stream'];

export function createCoreConf(): CoreConf {
  return { env: [], errorLogs: [], threadPools: [], modulesUsed: false };
}

function path(key: 'pid' | 'lockFile' | 'workingDirectory') {
  return (cf: Cf, conf: CoreConf): string | undefined => {
    if (conf[key] !== undefined) return 'is duplicate';
    conf[key] = cf.fullName(cf.args[0]);
    return undefined;
  };
}

/** Parses `error_log FILE [LEVEL…]`, as ngx_log_set_log does. */
export function parseErrorLog(cf: Cf): ErrorLogSpec {
  const [target, ...levels] = cf.args;
  if (target.startsWith('syslog:')) throw cf.error('logging to syslog is not supported by nodinx');
  if (target.startsWith('memory:')) throw cf.error('logging to memory is not supported by nodinx');
  const file = target === 'stderr' ? 'stderr' : cf.fullName(target);
  let level: LogLevel | undefined;
  let debug = false;
  for (const l of levels) {
    const i = LOG_LEVELS.indexOf(l as LogLevel);
    if (i >= 0) {
      if (level !== undefined) throw cf.error(`duplicate log level "${l}"`);
      level = l as LogLevel;
      if (l === 'debug') debug = true;
      continue;
    }
    if (DEBUG_FACILITIES.includes(l)) {
      if (level !== undefined && level !== 'debug') throw cf.error(`invalid log level "${l}"`);
      debug = true;
      continue;
    }
    throw cf.error(`invalid log level "${l}"`);
  }
  return { file, level: level ?? (debug ? 'debug' : 'error'), debug };
}

export const coreModule: Module = {
  name: 'core',
  type: 'core',
  commands: [
    { name: 'daemon', type: C.MAIN | A.FLAG, set: slot<CoreConf, 'daemon'>('daemon', flagValue) },
    { name: 'master_process', type: C.MAIN | A.FLAG, set: slot<CoreConf, 'masterProcess'>('masterProcess', flagValue) },
    { name: 'timer_resolution', type: C.MAIN | A.TAKE1, set: slot<CoreConf, 'timerResolution'>('timerResolution', msecValue) },
    { name: 'pid', type: C.MAIN | A.TAKE1, set: path('pid') },
    { name: 'lock_file', type: C.MAIN | A.TAKE1, set: path('lockFile') },
    {
      name: 'worker_processes',
      type: C.MAIN | A.TAKE1,
      set(cf, conf: CoreConf) {
        if (conf.workerProcesses !== undefined) return 'is duplicate';
        if (cf.args[0] === 'auto') {
          conf.workerProcesses = os.availableParallelism();
          return undefined;
        }
        const n = parseNumber(cf.args[0]);
        if (Number.isNaN(n)) return 'invalid value';
        conf.workerProcesses = n;
        return undefined;
      },
    },
    {
      name: 'user',
      type: C.MAIN | TAKE12,
      set(cf, conf: CoreConf) {
        if (conf.user) return 'is duplicate';
        if (!isRoot()) {
          cf.warn('the "user" directive makes sense only if the master process runs with super-user privileges, ignored');
          return undefined;
        }
        // ngx_set_user: the names must exist (Debian has no group "nobody": `user nobody;` fails as root)
        if (getpwnam(cf.args[0]) === undefined) throw cf.error(`getpwnam("${cf.args[0]}") failed`);
        const group = cf.args[1] ?? cf.args[0];
        if (getgrnam(group) === undefined) throw cf.error(`getgrnam("${group}") failed`);
        conf.user = [cf.args[0], cf.args[1]];
        return undefined;
      },
    },
    {
      name: 'worker_priority',
      type: C.MAIN | A.TAKE1,
      set(cf, conf: CoreConf) {
        if (conf.workerPriority !== undefined) return 'is duplicate';
        const s = cf.args[0];
        const n = s.startsWith('-') ? -parseNumber(s.slice(1)) : parseNumber(s.replace(/^\+/, ''));
        if (Number.isNaN(n)) return 'invalid number';
        conf.workerPriority = n;
        return undefined;
      },
    },
    { name: 'worker_rlimit_nofile', type: C.MAIN | A.TAKE1, set: slot<CoreConf, 'workerRlimitNofile'>('workerRlimitNofile', numberValue) },
    { name: 'worker_rlimit_core', type: C.MAIN | A.TAKE1, set: slot<CoreConf, 'workerRlimitCore'>('workerRlimitCore', offsetValue) },
    {
      // CPU pinning changes no answer nodinx gives (and Node cannot pin): checked as nginx checks it, then accepted
      name: 'worker_cpu_affinity',
      type: C.MAIN | A.MORE1,
      set(cf, conf: CoreConf) {
        if (conf.workerCpuAffinity) return 'is duplicate';
        const masks = cf.args[0] === 'auto' ? cf.args.slice(1) : cf.args;
        if (cf.args[0] === 'auto' && masks.length > 1) throw cf.error('invalid number of arguments in "worker_cpu_affinity" directive');
        for (const m of masks) {
          const bad = /[^01 ]/.exec(m);
          if (bad) throw cf.error(`invalid character "${bad[0]}" in "worker_cpu_affinity"`);
        }
        conf.workerCpuAffinity = cf.args;
        return undefined;
      },
    },
    {
      // thread pools serve nginx's `aio threads`; nodinx reads files asynchronously anyway
      name: 'thread_pool',
      type: C.MAIN | A.TAKE2 | A.TAKE3,
      set(cf, conf: CoreConf) {
        let threads = 0;
        for (const p of cf.args.slice(1)) {
          if (p.startsWith('threads=')) {
            threads = parseNumber(p.slice(8));
            if (Number.isNaN(threads) || threads === 0) throw cf.error(`invalid threads value "${p}"`);
          } else if (p.startsWith('max_queue=') && Number.isNaN(parseNumber(p.slice(10)))) {
            throw cf.error(`invalid max_queue value "${p}"`);
          }
        }
        if (threads === 0) throw cf.error('"thread_pool" must have "threads" parameter');
        if (conf.threadPools.includes(cf.args[0])) throw cf.error(`duplicate thread pool "${cf.args[0]}"`);
        conf.threadPools.push(cf.args[0]);
        return undefined;
      },
    },
    { name: 'worker_shutdown_timeout', type: C.MAIN | A.TAKE1, set: slot<CoreConf, 'workerShutdownTimeout'>('workerShutdownTimeout', msecValue) },
    { name: 'working_directory', type: C.MAIN | A.TAKE1, set: path('workingDirectory') },
    {
      name: 'env',
      type: C.MAIN | A.TAKE1,
      set(cf, conf: CoreConf) {
        const eq = cf.args[0].indexOf('=');
        conf.env.push(eq < 0 ? { name: cf.args[0] } : { name: cf.args[0].slice(0, eq), value: cf.args[0].slice(eq + 1) });
        return undefined;
      },
    },
    {
      name: 'load_module',
      type: C.MAIN | A.TAKE1,
      set(cf, conf: CoreConf) {
        if (conf.modulesUsed) return 'is specified too late';
        const file = cf.args[0].replace(/^.*\//, '');
        const builtin = BUILTIN_DYNAMIC_MODULES[file];
        if (builtin === undefined) {
          throw cf.error(`module "${cf.fullName(cf.args[0])}" cannot be loaded: nodinx has no ${file.replace(/\.so$/, '')} module`);
        }
        return undefined;
      },
    },
    { name: 'pcre_jit', type: C.MAIN | A.FLAG, set: slot<CoreConf, 'pcreJit'>('pcreJit', flagValue) },
    {
      name: 'error_log',
      type: C.MAIN | A.MORE1,
      set(cf, conf: CoreConf) {
        conf.errorLogs.push(parseErrorLog(cf));
        return undefined;
      },
    },
    // nodinx's own (nginx does not know it): an error_log whose lines are JSON objects, for log shippers
    {
      name: 'error_log_json',
      type: C.MAIN | A.MORE1,
      set(cf, conf: CoreConf) {
        conf.errorLogs.push({ ...parseErrorLog(cf), json: true });
        return undefined;
      },
    },
    {
      name: 'events',
      type: C.MAIN | A.BLOCK | A.NOARGS,
      set(cf, core: CoreConf) {
        const events = cf.cycle.confs.events as EventsConf;
        if (events.seen) return 'is duplicate';
        events.seen = true;
        core.modulesUsed = true;
        cf.block(cf.node.block!, C.EVENT, 'event', cf.cycle.confs);
        return undefined;
      },
    },
  ],
};

/**
 * Dynamic modules nginx packages ship whose function nodinx has built in;
 * `load_module` of one of these is accepted, as a no-op.
 */
const BUILTIN_DYNAMIC_MODULES: Record<string, string> = {};

export function createEventsConf(): EventsConf {
  return { seen: false };
}

const EVENT_METHODS = ['epoll', 'poll', 'select'];

export const eventsModule: Module = {
  name: 'events',
  type: 'event',
  commands: [
    {
      name: 'worker_connections',
      type: C.EVENT | A.TAKE1,
      set(cf, conf: EventsConf) {
        if (conf.workerConnections !== undefined) return 'is duplicate';
        const n = parseNumber(cf.args[0]);
        if (Number.isNaN(n)) throw cf.error(`invalid number "${cf.args[0]}"`);
        conf.workerConnections = n;
        return undefined;
      },
    },
    {
      name: 'use',
      type: C.EVENT | A.TAKE1,
      set(cf, conf: EventsConf) {
        if (conf.use !== undefined) return 'is duplicate';
        // all methods are the same to Node: libuv picks epoll on Linux
        if (!EVENT_METHODS.includes(cf.args[0])) throw cf.error(`invalid event type "${cf.args[0]}"`);
        conf.use = cf.args[0];
        return undefined;
      },
    },
    // the size of nginx's Linux AIO context: nothing nodinx answers depends on it
    { name: 'worker_aio_requests', type: C.EVENT | A.TAKE1, set: slot<EventsConf, 'workerAioRequests'>('workerAioRequests', numberValue) },
    { name: 'multi_accept', type: C.EVENT | A.FLAG, set: slot<EventsConf, 'multiAccept'>('multiAccept', flagValue) },
    { name: 'accept_mutex', type: C.EVENT | A.FLAG, set: slot<EventsConf, 'acceptMutex'>('acceptMutex', flagValue) },
    { name: 'accept_mutex_delay', type: C.EVENT | A.TAKE1, set: slot<EventsConf, 'acceptMutexDelay'>('acceptMutexDelay', msecValue) },
  ],
};
