// The session store's public surface (the fastify plugin is in
// fastify-plugin.ts, not loaded here: the proxy needs only MemcachedTable).
export { parseMsmConfig, type MsmAttributes, type MsmConfig } from './config';
export * from './errors';
export { MemjsClient, MemoryMemcached, type MemcachedClient } from './memcached';
export { NodeManager, memjsFactory, type ClientFactory } from './nodes';
export { SessionManager, SessionRequest } from './manager';
export { SessionStore } from './store';
export { MsmSession } from './session';
export { MemcachedTable, type TableOptions } from './table';
