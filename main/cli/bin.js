#!/usr/bin/env node
// The `moco-studio` executable: runs the TypeScript CLI through tsx (no build step needed).
import { register } from 'tsx/esm/api';

register();
await import('./moco-studio.ts');
