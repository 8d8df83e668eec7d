import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30000,
    hookTimeout: 120000,
    // Tests start real servers on ephemeral ports; two workers fit the 2-core CI machine.
    maxWorkers: 2,
  },
});
