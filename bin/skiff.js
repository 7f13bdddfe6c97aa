#!/usr/bin/env node
// Runs the TypeScript CLI directly: tsx compiles src/ on the fly, so there is no build step.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
await import('../src/node/cli.ts');
