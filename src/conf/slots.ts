import type { Cf } from './module';
import { parseFlag, parseNumber, parseOffset, parseSize, parseTime } from './values';

// nginx's ngx_conf_set_*_slot family: a directive that sets one field of its
// level's conf, once ("is duplicate" the second time), from a value parsed
// with nginx's rules ("invalid value", "invalid number").

/** A setter's short reason, as opposed to a parsed value. */
export class Reason {
  constructor(readonly text: string) {}
}

export function slot<T, K extends keyof T>(key: K, parse: (cf: Cf) => T[K] | Reason) {
  return (cf: Cf, conf: T): string | undefined => {
    if (conf[key] !== undefined) return 'is duplicate';
    const v = parse(cf);
    if (v instanceof Reason) return v.text;
    conf[key] = v;
    return undefined;
  };
}

/** ngx_conf_set_flag_slot's value: on/off, with its own message. */
export function flagValue(cf: Cf): boolean {
  const v = parseFlag(cf.args[0]);
  if (v === undefined) throw cf.error(`invalid value "${cf.args[0]}" in "${cf.name}" directive, it must be "on" or "off"`);
  return v;
}

const checked = (parse: (s: string) => number, reason: string) => (cf: Cf): number | Reason => {
  const n = parse(cf.args[0]);
  return Number.isNaN(n) ? new Reason(reason) : n;
};

export const numberValue = checked(parseNumber, 'invalid number');
export const sizeValue = checked(parseSize, 'invalid value');
export const offsetValue = checked(parseOffset, 'invalid value');
export const msecValue = checked((s) => parseTime(s), 'invalid value');
export const secValue = checked((s) => parseTime(s, true), 'invalid value');
