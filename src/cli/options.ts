// The command line, read as ngx_get_options() reads it: single-letter flags
// that may be bundled (-tq), values either attached (-p/x) or in the next
// argument, and nginx's messages for what is wrong.

export type Signal = 'stop' | 'quit' | 'reopen' | 'reload';

export interface Options {
  help: boolean;
  version: boolean;
  configure: boolean;
  test: boolean;
  dump: boolean;
  quiet: boolean;
  prefix?: string;
  confFile?: string;
  errorLog?: string;
  globals?: string;
  signal?: Signal;
}

export class OptionError extends Error {}

export function parseOptions(argv: string[]): Options {
  const o: Options = { help: false, version: false, configure: false, test: false, dump: false, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('-')) throw new OptionError(`invalid option: "${arg}"`);
    for (let j = 1; j < arg.length; j++) {
      const c = arg[j];
      const value = (what: string): string => {
        if (j + 1 < arg.length) {
          const v = arg.slice(j + 1);
          j = arg.length;
          return v;
        }
        if (i + 1 < argv.length) return argv[++i];
        throw new OptionError(`option "-${c}" requires ${what}`);
      };
      switch (c) {
        case '?':
        case 'h':
          o.help = o.version = true;
          break;
        case 'v':
          o.version = true;
          break;
        case 'V':
          o.version = o.configure = true;
          break;
        case 't':
          o.test = true;
          break;
        case 'T':
          o.test = o.dump = true;
          break;
        case 'q':
          o.quiet = true;
          break;
        case 'p':
          o.prefix = value('directory name');
          break;
        case 'c':
          o.confFile = value('file name');
          break;
        case 'e':
          o.errorLog = value('file name');
          break;
        case 'g':
          o.globals = value('parameter');
          break;
        case 's': {
          const s = value('parameter');
          if (s !== 'stop' && s !== 'quit' && s !== 'reopen' && s !== 'reload') {
            throw new OptionError(`invalid option: "-s ${s}"`);
          }
          o.signal = s;
          break;
        }
        default:
          throw new OptionError(`invalid option: "${c}"`);
      }
    }
  }
  return o;
}
