// One error hierarchy with stable codes, as undici does: `name` is the class,
// `code` never changes, `cause` keeps the original error.

export type LogLevel = 'debug' | 'info' | 'notice' | 'warn' | 'error' | 'crit' | 'alert' | 'emerg';

export class NodinxError extends Error {
  override name = 'NodinxError';
  code = 'NODINX_ERROR';
}

/**
 * A configuration error. `message` is nginx's text without the location;
 * `toString()`/`text` gives the line nginx prints after its "nginx: " prefix.
 */
export class ConfError extends NodinxError {
  override name = 'ConfError';
  override code = 'NODINX_CONF';
  /** found after the files were read (nginx prints "syntax is ok" first) */
  afterParse = false;
  constructor(
    readonly reason: string,
    readonly file?: string,
    readonly line?: number,
    readonly level: LogLevel = 'emerg',
    options?: { cause?: unknown },
  ) {
    super(ConfError.format(reason, file, line), options);
  }

  static format(reason: string, file?: string, line?: number): string {
    if (file === undefined) return reason;
    // nginx says "in command line" for -g directives, which have no file
    if (file === '') return `${reason} in command line`;
    return `${reason} in ${file}:${line}`;
  }

  get text(): string {
    return `[${this.level}] ${this.message}`;
  }
}

/** errno-style text as nginx prints it: "(2: No such file or directory)". */
export function sysErrorText(err: NodeJS.ErrnoException): string {
  const errnoByCode: Record<string, [number, string]> = {
    ENOENT: [2, 'No such file or directory'],
    EACCES: [13, 'Permission denied'],
    EISDIR: [21, 'Is a directory'],
    ENOTDIR: [20, 'Not a directory'],
    EMFILE: [24, 'Too many open files'],
    ELOOP: [40, 'Too many levels of symbolic links'],
    EADDRINUSE: [98, 'Address already in use'],
    EADDRNOTAVAIL: [99, 'Cannot assign requested address'],
    ESRCH: [3, 'No such process'],
    EPERM: [1, 'Operation not permitted'],
    ENOSPC: [28, 'No space left on device'],
    EROFS: [30, 'Read-only file system'],
  };
  const known = err.code ? errnoByCode[err.code] : undefined;
  if (known) return `(${known[0]}: ${known[1]})`;
  return `(${err.errno ?? 0}: ${err.message})`;
}
