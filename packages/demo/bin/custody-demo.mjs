#!/usr/bin/env node
// Entry for the demo pipeline's step commands; loads the TypeScript sources through tsx,
// resolved from this file (steps run in other working folders).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
