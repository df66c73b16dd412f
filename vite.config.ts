// Builds the renderer (renderer/ -> dist/renderer). Relative base: the same files are served by
// Electron's moco:// scheme and by the headless server's HTTP route.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';

const root = fileURLToPath(new URL('./renderer', import.meta.url));

export default defineConfig({
  root,
  base: './',
  plugins: [vue()],
  build: {
    outDir: fileURLToPath(new URL('./dist/renderer', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1000,
  },
  server: {
    // The renderer imports the contract from ../shared.
    fs: { allow: [fileURLToPath(new URL('.', import.meta.url))] },
  },
});
