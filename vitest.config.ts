import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.spec.ts'],
    // Real training on the wasm backend is CPU-bound; files run one at a time per core.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
