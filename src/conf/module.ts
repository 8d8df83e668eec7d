import type { ConfError } from './errors';
import type { ConfNode } from './parser';

// The shape of a module, after ngx_module_t/ngx_command_t: each module
// declares its directives as data; one checker (analyzer.ts) owns the order
// of checks and the wording of errors.

/** Where a directive may stand (nginx's NGX_*_CONF bits). */
export const C = {
  MAIN: 1 << 0,
  EVENT: 1 << 1,
  HTTP_MAIN: 1 << 2,
  HTTP_SRV: 1 << 3,
  HTTP_LOC: 1 << 4,
  HTTP_UPS: 1 << 5,
  /** `if` inside server */
  HTTP_SIF: 1 << 6,
  /** `if` inside location */
  HTTP_LIF: 1 << 7,
  HTTP_LMT: 1 << 8,
  STREAM_MAIN: 1 << 9,
  STREAM_SRV: 1 << 10,
  STREAM_UPS: 1 << 11,
  /** the body of a block such as `types` or `map`, read by its own handler */
  CUSTOM: 1 << 12,
} as const;

export const ANY_CONF = 0x1fff;

/** How many arguments (nginx's NGX_CONF_TAKE* bits). */
export const A = {
  NOARGS: 1 << 16,
  TAKE1: 1 << 17,
  TAKE2: 1 << 18,
  TAKE3: 1 << 19,
  TAKE4: 1 << 20,
  TAKE5: 1 << 21,
  TAKE6: 1 << 22,
  TAKE7: 1 << 23,
  BLOCK: 1 << 24,
  FLAG: 1 << 25,
  ANY: 1 << 26,
  MORE1: 1 << 27,
  MORE2: 1 << 28,
} as const;

export const TAKE12 = A.TAKE1 | A.TAKE2;
export const TAKE13 = A.TAKE1 | A.TAKE3;
export const TAKE23 = A.TAKE2 | A.TAKE3;
export const TAKE123 = A.TAKE1 | A.TAKE2 | A.TAKE3;
export const TAKE1234 = TAKE123 | A.TAKE4;

export type ModuleType = 'core' | 'event' | 'http' | 'stream';

/**
 * What a setter sees: the directive, the cycle and the block it stands in.
 * Setters return undefined on success or a short reason ("is duplicate",
 * "invalid value") that the checker wraps as `"name" directive REASON in F:L`;
 * for other wordings they throw `cf.error(...)`.
 */
export interface Cf {
  readonly node: ConfNode;
  readonly name: string;
  readonly args: string[];
  readonly cycle: CycleConf;
  /** the conf objects of the enclosing block (per module type) */
  readonly ctx: unknown;
  readonly cmdType: number;
  /** an error at this directive, with nginx's " in FILE:LINE" */
  error(reason: string, line?: number): ConfError;
  warn(reason: string, line?: number): void;
  /** a custom block's statements (types, map…), includes flattened */
  statements(nodes: ConfNode[]): Iterable<ConfNode>;
  /** analyze a block's children in a new context */
  block(nodes: ConfNode[], cmdType: number, moduleType: ModuleType, ctx: unknown): void;
  /** full path of a file name relative to the prefix, as ngx_conf_full_name */
  fullName(name: string, confPrefix?: boolean): string;
}

export type Setter<T = any> = (cf: Cf, conf: T) => string | undefined | void;

export interface Command<T = any> {
  name: string;
  type: number;
  set: Setter<T>;
  /** for http modules: which level's conf the setter receives */
  level?: 'main' | 'srv' | 'loc';
}

export interface Module {
  name: string;
  type: ModuleType;
  /** the nginx modules (e.g. "http_index") whose directives this one implements, for -V */
  provides?: string[];
  commands: Command[];
  /** http modules: per-level conf constructors and merge (parent into child) */
  createMain?(): object;
  createSrv?(): object;
  createLoc?(): object;
  mergeSrv?(parent: any, child: any, cf: MergeCf): void;
  mergeLoc?(parent: any, child: any, cf: MergeCf): void;
}

/** What merge functions may report (nginx merges with the log of the block). */
export interface MergeCf {
  error(reason: string, file?: string, line?: number): ConfError;
  /** where nginx stands while merging: the "}" of the http block (its merge errors say so) */
  blockEnd?: { file: string; line: number };
  fullName(name: string, confPrefix?: boolean): string;
}

/** The parts of the cycle every setter may need. */
export interface CycleConf {
  prefix: string;
  confPrefix: string;
  confFile: string;
  /** the core module's conf and other main-level confs, by module name */
  confs: Record<string, any>;
  warnings: ConfError[];
}
