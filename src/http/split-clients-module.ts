import { A, C, type Cf, type Module } from '../conf/module';
import { ConfError } from '../conf/errors';
import { compile, http, type HttpModuleHooks } from './core-conf';
import { addVariable, nested } from './map-module';
import type { Template, VariableGetter } from './variables';

// ngx_http_split_clients_module: `split_clients "$string" $variable { 0.5% a;
// 2% b; * c; }` — MurmurHash2 of the string picks the part, each part
// owning its share of the 32-bit hash space in order, so that a key falls
// in the same part as it does in nginx.

interface Part {
  /** the upper bound of the part's hashes; 0 for "*" (everything left) */
  percent: number;
  value: string;
}

/** ngx_murmur_hash2, over the bytes of a byte string. */
export function murmurHash2(s: string): number {
  const M = 0x5bd1e995;
  let len = s.length;
  let h = len >>> 0;
  let i = 0;
  for (; len >= 4; i += 4, len -= 4) {
    let k = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 8) | (s.charCodeAt(i + 2) << 16) | (s.charCodeAt(i + 3) << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  if (len >= 3) h ^= s.charCodeAt(i + 2) << 16;
  if (len >= 2) h ^= s.charCodeAt(i + 1) << 8;
  if (len >= 1) h = Math.imul(h ^ s.charCodeAt(i), M);
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h >>> 0;
}

const INT_MAX = (1n << 63n) - 1n;

/**
 * ngx_atofp(s, 2): a decimal with at most two digits after the point, times
 * 100; undefined where nginx says NGX_ERROR. nginx then keeps it in a
 * uint32_t, so 42949672.96% wraps to 0, which is "*".
 */
function percentOf(s: string): number | undefined {
  if (s.length === 0) return undefined;
  let value = 0n;
  let point = 2;
  let dot = false;
  for (const c of s) {
    if (c === '.') {
      if (dot) return undefined;
      dot = true;
      continue;
    }
    if (c < '0' || c > '9' || point === 0) return undefined;
    const d = BigInt(c.charCodeAt(0) - 48);
    if (value >= INT_MAX / 10n && (value > INT_MAX / 10n || d > INT_MAX % 10n)) return undefined;
    value = value * 10n + d;
    if (dot) point--;
  }
  for (; point > 0; point--) {
    if (value > INT_MAX / 10n) return undefined;
    value *= 10n;
  }
  return value === 0n ? undefined : Number(value & 0xffffffffn);
}

function splitClientsVariable(source: Template, parts: Part[], slot: number, where: { file: string; line: number }): VariableGetter {
  return (r, name) => nested(r, name, () => {
    const hash = murmurHash2(source.run(r));
    const part = parts.find((p) => hash < p.percent || p.percent === 0);
    const value = part ? part.value : '';
    r.vars[slot] = value;
    r.trace?.push({ kind: 'set', where, variable: name, value });
    return value;
  });
}

function splitClientsBlock(cf: Cf): string | undefined {
  const source = compile(cf, cf.args[0]);
  const { name, slot } = addVariable(cf, cf.args[1]);
  const parts: Part[] = [];
  // nginx's handler sees every statement, "include" too (as a bad percent)
  for (const node of cf.node.block!) {
    if (node.error) throw node.error;
    if (node.block) throw new ConfError(`unexpected "{"`, node.file, node.endLine);
    const key = node.directive;
    const percent = key === '*' ? 0 : key.endsWith('%') ? percentOf(key.slice(0, -1)) : undefined;
    if (percent === undefined) throw new ConfError(`invalid percent value "${key}"`, node.file, node.endLine);
    // (with no value nginx reads past the statement's words; "" is the sane reading)
    parts.push({ percent, value: node.args[0] ?? '' });
  }
  let sum = 0;
  let last = 0;
  for (const part of parts) {
    sum = part.percent ? (sum + part.percent) >>> 0 : 10000;
    if (sum > 10000) throw new ConfError('percent total is greater than 100%', cf.node.file, cf.node.blockEndLine);
    if (part.percent) {
      last = (last + Number((BigInt(part.percent) * 0xffffffffn) / 10000n)) >>> 0;
      part.percent = last;
    }
  }
  const where = { file: cf.node.file, line: cf.node.endLine };
  http(cf).variables.define(name, splitClientsVariable(source, parts, slot, where), true);
  return undefined;
}

export const splitClientsModule: Module & HttpModuleHooks = {
  name: 'http_split_clients',
  provides: ['http_split_clients'],
  type: 'http',
  commands: [{ name: 'split_clients', type: C.HTTP_MAIN | A.BLOCK | A.TAKE2, level: 'main', set: splitClientsBlock }],
};
