import type { Module } from '../conf/module';
import { httpCoreModule, type HttpModuleHooks } from './core-module';
import { indexModule } from './index-module';
import { logModule } from './log-module';

// The http modules nodinx has, in nginx's order (it matters for merge and
// for which module a directive name resolves to first).
export function httpModules(): Array<Module & HttpModuleHooks> {
  return [httpCoreModule, logModule, indexModule];
}
