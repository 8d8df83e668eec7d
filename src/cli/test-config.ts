import { ConfError } from '../conf/errors';
import { loadConfig, type Cycle, type LoadOptions } from '../conf/load';
import { accessLogPaths, createPaths, errorLogsOf, touch } from '../process/files';

// What `nginx -t` checks beyond parsing: that the files it will write can be
// opened (it creates them, as nginx does).

export interface TestResult {
  cycle?: Cycle;
  error?: ConfError;
  warnings: ConfError[];
}

export function testConfig(opts: LoadOptions & { errorLog?: string }): TestResult {
  let cycle: Cycle;
  try {
    cycle = loadConfig(opts);
  } catch (e) {
    if (e instanceof ConfError) return { error: e, warnings: [] };
    throw e;
  }
  try {
    createPaths(cycle);
    for (const spec of errorLogsOf(cycle, opts.errorLog)) if (spec.file !== 'stderr') touch(spec.file);
    for (const file of accessLogPaths(cycle)) touch(file);
  } catch (e) {
    if (e instanceof ConfError) return { cycle, error: e, warnings: cycle.warnings };
    throw e;
  }
  return { cycle, warnings: cycle.warnings };
}
