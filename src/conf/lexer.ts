import { ConfError } from './errors';

// A port of ngx_conf_read_token() (nginx 1.22): the same state machine gives
// the same tokens and, more importantly, the same errors at the same lines.

export const enum Rc {
  /** statement ended by ";" */
  Ok,
  /** statement ended by "{" */
  BlockStart,
  /** a "}" */
  BlockDone,
  /** end of input */
  FileDone,
}

export interface Statement {
  rc: Rc;
  args: string[];
  /** line of the first word (what crossplane reports) */
  line: number;
  /** line of the terminator: nginx reports directive errors here */
  endLine: number;
}

const LF = 10, CR = 13, SP = 32, TAB = 9;
const RPAREN = 41;
const SEMI = 59, LBRACE = 123, RBRACE = 125, HASH = 35, BSLASH = 92, DQ = 34, SQ = 39, DOLLAR = 36;

/** nginx reads config through a 4 KiB buffer; a token that fills it is an error. */
const CONF_BUFFER = 4096;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export class Lexer {
  pos = 0;
  line = 1;
  private readonly len: number;

  /**
   * @param text the file's bytes as a latin1 string, so that offsets are byte
   *   offsets and invalid UTF-8 outside tokens (say, in comments) is harmless
   * @param file the name used in messages ('' for the -g command line)
   */
  constructor(readonly text: string, readonly file: string) {
    this.len = text.length;
  }

  private error(reason: string): ConfError {
    return new ConfError(reason, this.file, this.line);
  }

  next(): Statement {
    const s = this.text;
    const args: string[] = [];
    let found = false, needSpace = false, lastSpace = true, sharpComment = false;
    let quoted = false, sQuoted = false, dQuoted = false, variable = false;
    let start = this.pos;
    let firstLine = this.line;

    for (;;) {
      if (this.pos >= this.len) {
        if (args.length > 0 || !lastSpace) {
          if (this.file === '') throw this.error('unexpected end of parameter, expecting ";"');
          throw this.error('unexpected end of file, expecting ";" or "}"');
        }
        return { rc: Rc.FileDone, args, line: this.line, endLine: this.line };
      }
      if (!lastSpace && this.pos - start >= CONF_BUFFER) {
        if (dQuoted) throw this.error('too long parameter, probably missing terminating """ character');
        if (sQuoted) throw this.error(`too long parameter, probably missing terminating "'" character`);
        throw this.error(`too long parameter "${s.slice(start, start + 10)}..." started`);
      }

      const ch = s.charCodeAt(this.pos++);

      if (ch === LF) {
        this.line++;
        if (sharpComment) sharpComment = false;
      }
      if (sharpComment) continue;
      if (quoted) {
        quoted = false;
        continue;
      }

      if (needSpace) {
        if (ch === SP || ch === TAB || ch === CR || ch === LF) {
          lastSpace = true;
          needSpace = false;
          continue;
        }
        if (ch === SEMI) return { rc: Rc.Ok, args, line: firstLine, endLine: this.line };
        if (ch === LBRACE) return { rc: Rc.BlockStart, args, line: firstLine, endLine: this.line };
        // `if ($a = "b")`: a ")" after a quote starts a word of its own
        if (ch !== RPAREN) throw this.error(`unexpected "${String.fromCharCode(ch)}"`);
        lastSpace = true;
        needSpace = false;
      }

      if (lastSpace) {
        start = this.pos - 1;
        if (ch === SP || ch === TAB || ch === CR || ch === LF) continue;
        if (args.length === 0) firstLine = this.line;

        switch (ch) {
          case SEMI:
          case LBRACE:
            if (args.length === 0) throw this.error(`unexpected "${String.fromCharCode(ch)}"`);
            return { rc: ch === LBRACE ? Rc.BlockStart : Rc.Ok, args, line: firstLine, endLine: this.line };
          case RBRACE:
            if (args.length !== 0) throw this.error('unexpected "}"');
            return { rc: Rc.BlockDone, args, line: this.line, endLine: this.line };
          case HASH:
            sharpComment = true;
            continue;
          case BSLASH:
            quoted = true;
            lastSpace = false;
            continue;
          case DQ:
            start++;
            dQuoted = true;
            lastSpace = false;
            continue;
          case SQ:
            start++;
            sQuoted = true;
            lastSpace = false;
            continue;
          case DOLLAR:
            variable = true;
            lastSpace = false;
            continue;
          default:
            lastSpace = false;
        }
      } else {
        // "${name}" keeps its brace: only a "{" right after "$" is part of a word
        if (ch === LBRACE && variable) continue;
        variable = false;
        if (ch === BSLASH) {
          quoted = true;
          continue;
        }
        if (ch === DOLLAR) {
          variable = true;
          continue;
        }
        if (dQuoted) {
          if (ch === DQ) {
            dQuoted = false;
            needSpace = true;
            found = true;
          }
        } else if (sQuoted) {
          if (ch === SQ) {
            sQuoted = false;
            needSpace = true;
            found = true;
          }
        } else if (ch === SP || ch === TAB || ch === CR || ch === LF || ch === SEMI || ch === LBRACE) {
          lastSpace = true;
          found = true;
        }

        if (found) {
          args.push(this.word(start, this.pos - 1));
          if (ch === SEMI) return { rc: Rc.Ok, args, line: firstLine, endLine: this.line };
          if (ch === LBRACE) return { rc: Rc.BlockStart, args, line: firstLine, endLine: this.line };
          found = false;
        }
      }
    }
  }

  /** Unescapes \" \' \\ \t \r \n as nginx does; any other backslash stays. */
  private word(from: number, to: number): string {
    const s = this.text;
    let raw = s.slice(from, to);
    if (raw.indexOf('\\') !== -1) {
      let out = '';
      for (let i = 0; i < raw.length; i++) {
        const c = raw[i];
        if (c === '\\' && i + 1 < raw.length) {
          const n = raw[i + 1];
          if (n === '"' || n === "'" || n === '\\') {
            out += n;
            i++;
            continue;
          }
          if (n === 't' || n === 'r' || n === 'n') {
            out += n === 't' ? '\t' : n === 'r' ? '\r' : '\n';
            i++;
            continue;
          }
        }
        out += c;
      }
      raw = out;
    }
    return this.decode(raw);
  }

  /**
   * Words stay byte strings, as nginx compares bytes; they must be valid
   * UTF-8 all the same, so that what nodinx says about them is readable.
   */
  private decode(latin1: string): string {
    // eslint-disable-next-line no-control-regex
    if (!/[^\x00-\x7f]/.test(latin1)) return latin1;
    try {
      utf8.decode(Buffer.from(latin1, 'latin1'));
    } catch {
      throw this.error('invalid UTF-8 sequence in a parameter');
    }
    return latin1;
  }

  /**
   * Reads the body of a `*_by_lua_block` as raw Lua, as OpenResty's lexer
   * does: braces inside Lua strings and comments do not count.
   */
  readLuaBlock(): string {
    const s = this.text;
    const from = this.pos;
    let depth = 1;
    while (this.pos < this.len) {
      const c = s[this.pos];
      if (c === '\n') this.line++;
      if (c === '-' && s[this.pos + 1] === '-') {
        const long = this.longBracketAt(this.pos + 2);
        if (long >= 0) this.skipLongBracket(this.pos + 2, long);
        else while (this.pos < this.len && s[this.pos] !== '\n') this.pos++;
        continue;
      }
      if (c === '[') {
        const long = this.longBracketAt(this.pos);
        if (long >= 0) {
          this.skipLongBracket(this.pos, long);
          continue;
        }
      }
      if (c === '"' || c === "'") {
        this.pos++;
        while (this.pos < this.len && s[this.pos] !== c) {
          if (s[this.pos] === '\\') this.pos++;
          if (s[this.pos] === '\n') this.line++;
          this.pos++;
        }
        this.pos++;
        continue;
      }
      if (c === '{') depth++;
      if (c === '}' && --depth === 0) {
        const body = s.slice(from, this.pos);
        this.pos++;
        return this.decode(body);
      }
      this.pos++;
    }
    throw this.error('unexpected end of file, expecting "}"');
  }

  /** Level of a Lua long bracket "[==[" at i, or -1. */
  private longBracketAt(i: number): number {
    const s = this.text;
    if (s[i] !== '[') return -1;
    let j = i + 1;
    while (s[j] === '=') j++;
    return s[j] === '[' ? j - i - 1 : -1;
  }

  private skipLongBracket(i: number, level: number): void {
    const close = ']' + '='.repeat(level) + ']';
    const end = this.text.indexOf(close, i + level + 2);
    const stop = end < 0 ? this.len : end + close.length;
    for (let k = this.pos; k < stop; k++) if (this.text.charCodeAt(k) === LF) this.line++;
    this.pos = stop;
  }
}
