#!/usr/bin/env node
// Runs the built CLI (dist/, made by `npm run build`, which `npm install` runs via `prepare`).
// Always the built files: with NODE_ENV=test or development oclif would otherwise look for a
// configured module (the help class) in src/ through tsconfig and fail on its .ts extension
// (bin/dev.js is the entry that runs the sources).
import { execute, settings } from '@oclif/core';

settings.enableAutoTranspile = false;
await execute({ dir: import.meta.url });
