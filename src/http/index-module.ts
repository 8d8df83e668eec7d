import { A, C, type Module } from '../conf/module';
import { compile, type HttpModuleHooks } from './core-module';
import { staticTemplate, type Template } from './variables';

// ngx_http_index_module: which files a request for a directory tries.

export interface IndexLocConf {
  indices?: Template[];
}

export const INDEX = 'http_index';

export const indexModule: Module & HttpModuleHooks = {
  name: INDEX,
  provides: ['http_index'],
  type: 'http',
  createLoc: (): IndexLocConf => ({}),
  // an "array" directive: inherited only when the child sets none
  mergeLoc(parent: IndexLocConf, child: IndexLocConf) {
    child.indices ??= parent.indices ?? [staticTemplate('index.html')];
  },
  commands: [
    {
      name: 'index',
      type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.MORE1,
      set(cf, conf: IndexLocConf) {
        conf.indices ??= [];
        for (let i = 0; i < cf.args.length; i++) {
          const value = cf.args[i];
          if (value.startsWith('/') && i !== cf.args.length - 1) {
            cf.warn(`only the last index in "index" directive should be absolute`);
          }
          if (value === '') throw cf.error(`index "${cf.args[0]}" in "index" directive is invalid`);
          conf.indices.push(compile(cf, value));
        }
        return undefined;
      },
    },
  ],
};
