import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.spec.ts'],
    // Real training on the wasm backend is CPU-bound; files run one at a time per core.
    pool: 'forks',
    testTimeout: 300_000, // real training on 2 shared cores; a hang still fails
    hookTimeout: 240_000,
  },
});
