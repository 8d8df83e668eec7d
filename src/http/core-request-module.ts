import { A, C, type Cf, type Command, type Module } from '../conf/module';
import { parseNumber, parseSize } from '../conf/values';
import { Reason, flagValue, msecValue, numberValue, sizeValue, slot } from '../conf/slots';
import type { HttpServerConf, LocationConf } from './core-conf';

// The directives of ngx_http_core_module that govern how a request is read
// and its connection kept or closed: header buffers and timeouts, what a
// header name may hold, slashes in the URI, lingering close, send_timeout.
// They live apart from core-module.ts (the blocks, roots, error pages) as
// their own conf, read by http-connection.ts and request-line.ts.

export const CORE_REQUEST = 'http_core_request';

export interface RequestSrvConf {
  clientHeaderBufferSize?: number;
  largeClientHeaderBuffers?: { num: number; size: number };
  clientHeaderTimeout?: number;
  ignoreInvalidHeaders?: boolean;
  underscoresInHeaders?: boolean;
  mergeSlashes?: boolean;
  /** Debian's nginx 1.22 (from freenginx): headers accepted per request */
  maxHeaders?: number;
}

export interface RequestLocConf {
  clientBodyTimeout?: number;
  sendTimeout?: number;
  lingeringClose?: 'off' | 'on' | 'always';
  lingeringTime?: number;
  lingeringTimeout?: number;
  chunkedTransferEncoding?: boolean;
  maxRanges?: number;
  clientBodyInFileOnly?: 'off';
  clientBodyInSingleBuffer?: boolean;
  clientBodyBufferSize?: number;
}

const SRV_DEFAULTS: Required<RequestSrvConf> = {
  clientHeaderBufferSize: 1024,
  largeClientHeaderBuffers: { num: 4, size: 8192 },
  clientHeaderTimeout: 60000,
  ignoreInvalidHeaders: true,
  underscoresInHeaders: false,
  mergeSlashes: true,
  maxHeaders: 1000,
};

const LOC_DEFAULTS: Required<RequestLocConf> = {
  clientBodyTimeout: 60000,
  sendTimeout: 60000,
  lingeringClose: 'on',
  lingeringTime: 30000,
  lingeringTimeout: 5000,
  chunkedTransferEncoding: true,
  maxRanges: 0x7fffffff,
  clientBodyInFileOnly: 'off',
  clientBodyInSingleBuffer: false,
  // 2 * ngx_pagesize
  clientBodyBufferSize: 8192,
};

// nginx's connection_pool_size on a 64-bit machine (not settable in nodinx)
const CONNECTION_POOL_SIZE = 512;

/** The merged request-reading conf of a server. */
export const requestSrvConf = (s: HttpServerConf): Required<RequestSrvConf> => s.ctx.srv[CORE_REQUEST];

/** The merged request conf of a location. */
export const requestLocConf = (loc: LocationConf): Required<RequestLocConf> => loc.confs[CORE_REQUEST];

/**
 * nodinx keeps request bodies in memory (request-body-reader.ts): a body
 * only in a file, or in one buffer, is nginx's temp-file machinery it lacks.
 */
function offOnly<T extends string>(values: readonly T[]) {
  const parse = enumValue(values);
  return (cf: Cf): 'off' => {
    const v = parse(cf);
    if (v !== 'off') throw cf.error(`the "${v}" parameter of "${cf.name}" is not supported by nodinx`);
    return 'off';
  };
}

function enumValue<T extends string>(values: readonly T[]) {
  return (cf: Cf): T => {
    const v = cf.args[0] as T;
    if (values.includes(v)) return v;
    throw cf.error(`invalid value "${cf.args[0]}"`);
  };
}

/** ngx_conf_set_bufs_slot: "number size", both above zero. */
function bufsValue(cf: Cf): { num: number; size: number } | Reason {
  const num = parseNumber(cf.args[0]);
  const size = parseSize(cf.args[1]);
  if (Number.isNaN(num) || num === 0 || Number.isNaN(size) || size === 0) return new Reason('invalid value');
  return { num, size };
}

const MAIN_SRV = C.HTTP_MAIN | C.HTTP_SRV;
const ANY_LOC = C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC;

const srv = (name: string, type: number, key: keyof RequestSrvConf, parse: (cf: Cf) => unknown): Command => ({
  name, type, level: 'srv', set: slot<RequestSrvConf, typeof key>(key, parse as (cf: Cf) => never),
});
const loc = (name: string, type: number, key: keyof RequestLocConf, parse: (cf: Cf) => unknown): Command => ({
  name, type, set: slot<RequestLocConf, typeof key>(key, parse as (cf: Cf) => never),
});

export const coreRequestModule: Module = {
  name: CORE_REQUEST,
  type: 'http',
  createSrv: (): RequestSrvConf => ({}),
  createLoc: (): RequestLocConf => ({}),
  mergeSrv(parent: RequestSrvConf, child: RequestSrvConf, cf) {
    for (const key of Object.keys(SRV_DEFAULTS) as Array<keyof RequestSrvConf>) {
      if (child[key] === undefined) (child as Record<string, unknown>)[key] = parent[key] ?? SRV_DEFAULTS[key];
    }
    if (child.largeClientHeaderBuffers!.size < CONNECTION_POOL_SIZE) {
      throw cf.error('the "large_client_header_buffers" size must be equal to or greater than "connection_pool_size"');
    }
  },
  mergeLoc(parent: RequestLocConf, child: RequestLocConf) {
    for (const key of Object.keys(LOC_DEFAULTS) as Array<keyof RequestLocConf>) {
      if (child[key] === undefined) (child as Record<string, unknown>)[key] = parent[key] ?? LOC_DEFAULTS[key];
    }
  },
  commands: [
    srv('client_header_buffer_size', MAIN_SRV | A.TAKE1, 'clientHeaderBufferSize', sizeValue),
    srv('large_client_header_buffers', MAIN_SRV | A.TAKE2, 'largeClientHeaderBuffers', bufsValue),
    srv('client_header_timeout', MAIN_SRV | A.TAKE1, 'clientHeaderTimeout', msecValue),
    srv('ignore_invalid_headers', MAIN_SRV | A.FLAG, 'ignoreInvalidHeaders', flagValue),
    srv('underscores_in_headers', MAIN_SRV | A.FLAG, 'underscoresInHeaders', flagValue),
    srv('merge_slashes', MAIN_SRV | A.FLAG, 'mergeSlashes', flagValue),
    srv('max_headers', MAIN_SRV | A.TAKE1, 'maxHeaders', numberValue),
    loc('client_body_timeout', ANY_LOC | A.TAKE1, 'clientBodyTimeout', msecValue),
    loc('send_timeout', ANY_LOC | A.TAKE1, 'sendTimeout', msecValue),
    loc('lingering_close', ANY_LOC | A.TAKE1, 'lingeringClose', enumValue(['off', 'on', 'always'] as const)),
    loc('lingering_time', ANY_LOC | A.TAKE1, 'lingeringTime', msecValue),
    loc('lingering_timeout', ANY_LOC | A.TAKE1, 'lingeringTimeout', msecValue),
    loc('chunked_transfer_encoding', ANY_LOC | A.FLAG, 'chunkedTransferEncoding', flagValue),
    loc('max_ranges', ANY_LOC | A.TAKE1, 'maxRanges', numberValue),
    loc('client_body_in_file_only', ANY_LOC | A.TAKE1, 'clientBodyInFileOnly', offOnly(['off', 'on', 'clean'] as const)),
    loc('client_body_in_single_buffer', ANY_LOC | A.FLAG, 'clientBodyInSingleBuffer', (cf: Cf) => {
      if (flagValue(cf) === true) throw cf.error(`the "on" parameter of "${cf.name}" is not supported by nodinx`);
      return false;
    }),
    loc('client_body_buffer_size', ANY_LOC | A.TAKE1, 'clientBodyBufferSize', sizeValue),
  ],
};
