#!/usr/bin/env node
// npm run bench: nodinx beside nginx on the same work, in the same run, as
// ratios (absolute figures on a shared 2-core machine mean little).
// Sections: start-up, config load (issue "Config language"), static files
// (issue "Static file throughput"), proxy (issue "Reverse proxy and upstream
// load balancing"), sessions, sticky, logs: one file per section in scripts/bench/
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './bench/common.mjs';
import { benchConfigLoad, benchStartup } from './bench/core.mjs';
import { benchGzip, benchStatic } from './bench/static.mjs';
import { benchProxy } from './bench/proxy.mjs';
import { benchSession, benchSticky } from './bench/sessions.mjs';
import { benchLogEndToEnd, benchLogWriters } from './bench/logs.mjs';

if (!fs.existsSync(path.join(ROOT, 'dist/conf/load.js'))) execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
// BENCH_ONLY=static (or startup, config, gzip, log, proxy, session, sticky) runs one section
const only = process.env.BENCH_ONLY;
// a shared machine: say how busy it was, the ratios are only as good as that
console.log(`load average at start: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (${os.cpus().length} CPUs)`);
if (!only || only === 'startup') await benchStartup();
if (!only || only === 'config') benchConfigLoad();
if (!only || only === 'static') await benchStatic();
if (!only || only === 'gzip') await benchGzip();
if (!only || only === 'proxy') await benchProxy();
if (!only || only === 'session') await benchSession();
if (!only || only === 'sticky') await benchSticky();
if (!only || only === 'log') {
  await benchLogWriters();
  await benchLogEndToEnd();
}
console.log(`load average at end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
