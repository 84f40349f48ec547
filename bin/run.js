#!/usr/bin/env node
// Runs the built CLI (dist/, made by `npm run build`, which `npm install` runs via `prepare`).
import { execute } from '@oclif/core';

await execute({ dir: import.meta.url });
