#!/usr/bin/env node
// Runs the CLI straight from the TypeScript sources (no build step), for development.
// tsx is registered from here (not with `node --import tsx`, which resolves it from the
// current folder), so this works from any folder.
import { register } from 'tsx/esm/api';

register();
const { execute } = await import('@oclif/core');
await execute({ development: true, dir: import.meta.url });
