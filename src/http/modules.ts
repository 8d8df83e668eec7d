import type { Module } from '../conf/module';
import { httpCoreModule, type HttpModuleHooks } from './core-module';
import { indexModule } from './index-module';
import { autoindexModule } from './autoindex-module';
import { coreRequestModule } from './core-request-module';
import { coreStaticModule } from './core-static-module';
import { expiresModule } from './expires-module';
import { logModule } from './log-module';
import { tryFilesModule } from './try-files';
import { authBasicModule } from './auth-basic-module';
import { accessModule } from './access-module';
import { rewriteModule } from './rewrite-module';
import { proxyRewriteModule } from './proxy-redirect';
import { headersModule } from './headers-module';
import { geoModule } from './geo-module';
import { mapModule } from './map-module';
import { splitClientsModule } from './split-clients-module';
import { stubStatusModule } from './stub-status-module';
import { charsetModule } from './charset-module';
import { gzipModule } from './gzip-module';
import { gzipStaticModule } from './gzip-static-module';
import { openFileCacheModule } from './open-file-cache';
import { upstreamModule } from '../upstream/upstream-module';
import { proxyModule } from './proxy-module';
import { limitRateModule } from './limit-rate';

// The http modules nodinx has, in nginx's order (it matters for merge and
// for which module a directive name resolves to first). Header filters run
// in this order, which is the order nginx's filter chain calls them in (the
// reverse of ngx_modules): headers, then charset, then gzip; the rate
// limit last, as nginx fixes it in the write filter, after every header filter.
export function httpModules(): Array<Module & HttpModuleHooks> {
  return [httpCoreModule, coreRequestModule, openFileCacheModule, coreStaticModule, logModule, upstreamModule, autoindexModule, indexModule, tryFilesModule, authBasicModule, accessModule, geoModule, mapModule, splitClientsModule, rewriteModule, proxyModule, proxyRewriteModule, expiresModule, headersModule, charsetModule, gzipModule, gzipStaticModule, stubStatusModule, limitRateModule];
}
