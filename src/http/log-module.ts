import { A, C, type Cf, type Module } from '../conf/module';
import { parseNumber, parseSize, parseTime } from '../conf/values';
import { compile, type HttpMainConf, type HttpModuleHooks } from './core-module';
import { compileTemplate, concatTemplates, staticTemplate, type Template } from './variables';

// ngx_http_log_module, configuration side: log_format and access_log.

export type LogEscape = 'default' | 'json' | 'none';

export interface LogFormat {
  name: string;
  escape: LogEscape;
  /** the format's strings joined, as one template */
  template: Template;
  file: string;
  line: number;
}

export interface AccessLog {
  /** absolute path (may hold variables) */
  path: Template;
  format: LogFormat;
  buffer?: number;
  flush?: number;
  gzip?: number;
  /** `if=`: the line is written unless the value is "" or "0" */
  condition?: Template;
}

export interface LogMainConf {
  formats: Map<string, LogFormat>;
  combinedUsed: boolean;
}

export interface LogLocConf {
  /** undefined: inherit; [] with off: `access_log off` */
  logs?: AccessLog[];
  off?: boolean;
  /** the http block's "combined", for the default log */
  defaultFormat?: LogFormat;
}

const combinedFormat = new WeakMap<HttpMainConf, LogFormat>();

export const LOG = 'http_log';

export const COMBINED =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';

const main = (cf: Cf): LogMainConf => (cf.cycle.confs.http as HttpMainConf).ctx.main[LOG];

function combined(cf: Cf): LogFormat {
  return main(cf).formats.get('combined')!;
}

export const logModule: Module & HttpModuleHooks = {
  name: LOG,
  provides: ['http_log'],
  type: 'http',
  createMain: (): LogMainConf => ({ formats: new Map(), combinedUsed: false }),
  createLoc: (): LogLocConf => ({}),
  preconfiguration(httpMain: HttpMainConf) {
    const template = compileTemplate(COMBINED, httpMain.variables);
    httpMain.templates.push(template);
    const m: LogMainConf = httpMain.ctx.main[LOG];
    m.formats.set('combined', { name: 'combined', escape: 'default', template, file: '', line: 0 });
    combinedFormat.set(httpMain, m.formats.get('combined')!);
    (httpMain.ctx.loc[LOG] as LogLocConf).defaultFormat = m.formats.get('combined');
  },
  mergeLoc(parent: LogLocConf, child: LogLocConf, cf) {
    // nginx's compiled-in default, logs/access.log combined, at the top level
    if (parent.logs === undefined && !parent.off) {
      const format = parent.defaultFormat!;
      parent.logs = [{ path: staticTemplate(cf.fullName('logs/access.log')), format }];
    }
    if (child.logs === undefined && !child.off) {
      child.logs = parent.logs;
      child.off = parent.off;
    }
    child.defaultFormat = parent.defaultFormat;
  },
  commands: [
    {
      name: 'log_format',
      type: C.HTTP_MAIN | A.MORE2,
      level: 'main',
      set(cf, conf: LogMainConf) {
        const [name, ...rest] = cf.args;
        if (conf.formats.has(name)) throw cf.error(`duplicate "log_format" name "${name}"`);
        let escape: LogEscape = 'default';
        if (rest[0].startsWith('escape=')) {
          const v = rest.shift()!.slice(7);
          if (v !== 'default' && v !== 'json' && v !== 'none') throw cf.error(`unknown log format escaping "${v}"`);
          escape = v;
        }
        // each string is compiled on its own: a variable name ends with its string
        const parts = rest.map((str) => compile(cf, str, { logFormat: true }));
        const template = concatTemplates(rest.join(''), parts, (cf.cycle.confs.http as HttpMainConf).variables);
        (cf.cycle.confs.http as HttpMainConf).templates.push(template);
        conf.formats.set(name, { name, escape, template, file: cf.node.file, line: cf.node.endLine });
        return undefined;
      },
    },
    {
      name: 'access_log',
      type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | C.HTTP_LIF | C.HTTP_LMT | A.MORE1,
      set(cf, conf: LogLocConf) {
        const [path, ...params] = cf.args;
        if (path === 'off') {
          if (params.length > 0) throw cf.error(`invalid parameter "${params[0]}"`);
          if (conf.logs?.length) return 'is duplicate';
          conf.off = true;
          conf.logs = [];
          return undefined;
        }
        if (conf.off) return 'is duplicate';
        if (path.startsWith('syslog:')) throw cf.error('logging to syslog is not supported by nodinx');
        let format: LogFormat;
        let i = 0;
        if (params.length > 0 && !params[0].includes('=') && params[0] !== 'gzip') {
          const name = params[0];
          i = 1;
          if (name === 'combined') format = combined(cf);
          else {
            const f = main(cf).formats.get(name);
            if (!f) throw cf.error(`unknown log format "${name}"`);
            format = f;
          }
        } else format = combined(cf);
        const log: AccessLog = { path: compile(cf, cf.fullName(path)), format };
        for (; i < params.length; i++) {
          const p = params[i];
          if (p.startsWith('buffer=')) {
            log.buffer = parseSize(p.slice(7));
            if (Number.isNaN(log.buffer)) throw cf.error(`invalid buffer size "${p.slice(7)}"`);
          } else if (p.startsWith('flush=')) {
            log.flush = parseTime(p.slice(6));
            if (Number.isNaN(log.flush)) throw cf.error(`invalid flush time "${p.slice(6)}"`);
          } else if (p === 'gzip' || p.startsWith('gzip=')) {
            const level = p === 'gzip' ? 1 : parseNumber(p.slice(5));
            if (Number.isNaN(level) || level < 1 || level > 9) throw cf.error(`invalid compression level "${p.slice(5)}"`);
            log.gzip = level;
            log.buffer ??= 64 * 1024;
          } else if (p.startsWith('if=')) {
            log.condition = compile(cf, p.slice(3));
          } else {
            throw cf.error(`invalid parameter "${p}"`);
          }
        }
        if (log.flush !== undefined && !log.buffer) throw cf.error(`no buffer is defined for access_log "${path}"`);
        if (log.buffer && !log.path.isStatic) throw cf.error('buffered logs cannot have variables in name');
        conf.logs ??= [];
        conf.logs.push(log);
        return undefined;
      },
    },
    // a cache of open descriptors for paths with variables: no observable effect
    {
      name: 'open_log_file_cache',
      type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1 | A.TAKE2 | A.TAKE3 | A.TAKE4,
      set(cf) {
        // ngx_http_log_open_file_cache: off | max=N [inactive=t] [min_uses=N] [valid=t]
        let max = 0;
        for (const p of cf.args) {
          const v = p.slice(p.indexOf('=') + 1);
          const ok =
            p === 'off' ||
            (p.startsWith('max=') && !Number.isNaN((max = parseNumber(v)))) ||
            (p.startsWith('min_uses=') && !Number.isNaN(parseNumber(v))) ||
            ((p.startsWith('inactive=') || p.startsWith('valid=')) && !Number.isNaN(parseTime(v, true)));
          if (!ok) throw cf.error(`invalid "open_log_file_cache" parameter "${p}"`);
          if (p === 'off') return undefined;
        }
        if (max === 0) throw cf.error(`"open_log_file_cache" must have "max" parameter`);
        return undefined;
      },
    },
  ],
};

