import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfError, sysErrorText } from '../conf/errors';
import { fromBytes, fsPath, toBytes } from '../conf/bytes';
import { explain, explainText, type ExplainOptions } from './explain';
import { loadConfig } from '../conf/load';
import { crossplaneJson, dumpFiles } from '../conf/dump';
import { parseConfig } from '../conf/parser';
import { Console } from '../process/console';
import { ErrorLog } from '../process/error-log';
import { Master } from '../process/master';
import { OptionError, parseOptions, type Options, type Signal } from './options';
import { testConfig } from './test-config';
import { sessionMain } from './session';
import { defaultErrorLog } from '../process/files';
import { configureText, versionLine } from './version';

// The nodinx command: nginx's options, plus subcommands nginx lacks
// (`nodinx parse` prints the parse tree as crossplane's JSON).

/** The install tree: the repo root, as nginx's prefix is its install tree. */
export const DEFAULT_PREFIX = path.resolve(__dirname, '..', '..');
const DEFAULT_CONF = 'conf/nginx.conf';

const USAGE = (p: string) => `Usage: ${p} [-?hvVtTq] [-s signal] [-p prefix]
             [-e filename] [-c filename] [-g directives]
       ${p} parse [-p prefix] [-c filename]
       ${p} explain [-p prefix] [-c filename] [--addr IP:PORT] [-H 'Name: value']... [--json] 'GET http://host/uri'

Options:
  -?,-h         : this help
  -v            : show version and exit
  -V            : show version and configure options then exit
  -t            : test configuration and exit
  -T            : test configuration, dump it and exit
  -q            : suppress non-error messages during configuration testing
  -s signal     : send signal to a master process: stop, quit, reopen, reload
  -p prefix     : set prefix path (default: ${DEFAULT_PREFIX}/)
  -e filename   : set error log file (default: logs/error.log)
  -c filename   : set configuration file (default: ${DEFAULT_CONF})
  -g directives : set global directives out of configuration file
  parse         : print the configuration's parse tree as crossplane JSON
  explain       : show the path a request takes through the configuration, and why
  session       : show a session as stored in memcached: session ID --memcached-nodes "n1:HOST:PORT …"
`;

function loadOptions(o: Options) {
  const prefix = o.prefix ?? DEFAULT_PREFIX;
  return { prefix, confFile: o.confFile ?? DEFAULT_CONF, globals: o.globals };
}

function test(o: Options, out: Console): number {
  const opts = loadOptions(o);
  const r = testConfig({ ...opts, errorLog: o.errorLog });
  const confFile = toBytes(path.resolve(path.resolve(opts.prefix), opts.confFile));
  for (const w of r.warnings) out.error(w.text);
  if (r.error) {
    // nginx prints "syntax is ok" before errors found after parsing
    if (!o.quiet && r.error.afterParse) {
      out.error(`the configuration file ${confFile} syntax is ok`);
    }
    out.error(r.error.text);
    out.error(`configuration file ${confFile} test failed`);
    return 1;
  }
  if (!o.quiet) out.error(`the configuration file ${confFile} syntax is ok`);
  if (!o.quiet) out.error(`configuration file ${confFile} test is successful`);
  if (o.dump && r.cycle) process.stdout.write(dumpFiles(r.cycle.parse));
  return 0;
}

function signal(o: Options, sig: Signal, out: Console): number {
  const opts = loadOptions(o);
  let pidFile: string;
  let log: ErrorLog | undefined;
  try {
    const cycle = loadConfig(opts);
    pidFile = cycle.core.pid ?? path.join(cycle.prefix, 'logs/nginx.pid');
  } catch (e) {
    if (!(e instanceof ConfError)) throw e;
    out.error(e.text);
    return 1;
  }
  const say = (level: 'error' | 'alert', msg: string): number => {
    out.error(`[${level}] ${msg}`);
    log?.log(level, msg);
    return 1;
  };
  try {
    log = new ErrorLog();
    log.open([defaultErrorLog(path.resolve(opts.prefix), o.errorLog)]);
    log.log('notice', 'signal process started');
  } catch {
    log = undefined;
  }
  let text: string;
  try {
    text = fs.readFileSync(fsPath(pidFile), 'latin1');
  } catch (e) {
    return say('error', `open() "${pidFile}" failed ${sysErrorText(e as NodeJS.ErrnoException)}`);
  }
  const pidText = text.replace(/[\r\n]+$/, '');
  const pid = /^[0-9]+$/.test(pidText) ? Number(pidText) : NaN;
  if (!Number.isSafeInteger(pid) || pid <= 0) return say('error', `invalid PID number "${pidText}" in "${pidFile}"`);
  const signals = { stop: ['SIGTERM', 15], quit: ['SIGQUIT', 3], reopen: ['SIGUSR1', 10], reload: ['SIGHUP', 1] } as const;
  const [name, num] = signals[sig];
  try {
    process.kill(pid, name);
  } catch (e) {
    return say('alert', `kill(${pid}, ${num}) failed ${sysErrorText(e as NodeJS.ErrnoException)}`);
  } finally {
    log?.close();
  }
  return 0;
}

function parseCommand(argv: string[]): number {
  const o = parseOptions(argv);
  const { prefix, confFile } = loadOptions(o);
  const file = toBytes(path.resolve(path.resolve(prefix), confFile));
  const result = parseConfig(file, { confPrefix: path.dirname(file) });
  process.stdout.write(JSON.stringify(crossplaneJson(result), null, 2) + '\n');
  return result.error ? 1 : 0;
}

/** nodinx explain [-p PREFIX] [-c FILE] [-g D] [--addr IP:PORT] [-H 'N: v']… [--json] 'GET http://host/uri' */
async function explainCommand(argv: string[], out: Console): Promise<number> {
  const o: ExplainOptions & { json: boolean } = { prefix: DEFAULT_PREFIX, confFile: DEFAULT_CONF, headers: [], request: '', json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      if (i + 1 >= argv.length) throw new OptionError(`option "${a}" requires a value`);
      return argv[++i];
    };
    if (a === '-p') o.prefix = value();
    else if (a === '-c') o.confFile = value();
    else if (a === '-g') o.globals = value();
    else if (a === '--addr') o.addr = value();
    else if (a === '-H') o.headers.push(value());
    else if (a === '--json') o.json = true;
    else if (a.startsWith('-')) throw new OptionError(`invalid option: "${a}"`);
    else if (o.request) throw new OptionError(`one request at a time: "${a}"`);
    else o.request = a;
  }
  if (!o.request) throw new OptionError('explain needs a request, e.g. \'GET http://localhost:8080/\'');
  try {
    const e = await explain(o);
    process.stdout.write(o.json ? JSON.stringify(e, (_k, v) => (typeof v === 'string' ? fromBytes(v) : v), 2) + '\n' : explainText(e, toBytes(path.resolve(o.prefix))));
    return 0;
  } catch (e) {
    if (!(e instanceof ConfError)) throw e;
    out.error(e.text);
    return 1;
  }
}

export async function main(argv: string[], progName: string): Promise<number> {
  const out = new Console(progName);
  if (argv[0] === 'session') return sessionMain(argv.slice(1), out);
  if (argv[0] === 'explain') {
    try {
      return await explainCommand(argv.slice(1), out);
    } catch (e) {
      if (e instanceof OptionError) {
        out.error(e.message);
        return 1;
      }
      throw e;
    }
  }
  if (argv[0] === 'parse') {
    try {
      return parseCommand(argv.slice(1));
    } catch (e) {
      if (e instanceof OptionError) {
        out.error(e.message);
        return 1;
      }
      throw e;
    }
  }
  let o: Options;
  try {
    o = parseOptions(argv);
  } catch (e) {
    if (e instanceof OptionError) {
      out.error(e.message);
      return 1;
    }
    throw e;
  }
  if (o.version) {
    process.stderr.write(`${o.configure ? configureText(progName, o.prefix ?? DEFAULT_PREFIX) : versionLine(progName)}\n`);
    if (o.help) process.stderr.write(`\n${USAGE(progName)}`);
    if (!o.test && !o.signal) return 0;
  }
  if (o.test) return test(o, out);
  if (o.signal) return signal(o, o.signal, out);
  return new Master({ ...loadOptions(o), errorLogOption: o.errorLog }, out).run();
}

export function progNameOf(argv1: string | undefined): string {
  return path.basename(argv1 ?? 'nodinx') === 'nginx' ? 'nginx' : 'nodinx';
}

if (require.main === module) {
  main(process.argv.slice(2), progNameOf(process.argv[1])).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`nodinx: [alert] ${(e as Error).stack}\n`);
      process.exit(2);
    },
  );
}
