// The `custody` executable. Kept tiny: `--version` answers before anything heavy loads,
// and every command's handler imports the packages it needs lazily.
import { VERSION } from './version.ts';

// Node prints process warnings (a library's `process.emitWarning`, e.g. YAML's "alias ending
// in : is ambiguous", or Node's own) straight to stderr. The contract is one line per failure,
// so they are held back: shown with --debug only. Removing the listeners removes Node's printer.
const argv = process.argv.slice(2);
process.removeAllListeners('warning');
if (argv.includes('--debug')) {
  process.on('warning', (w) => process.stderr.write(`custody: (debug) ${w.name}: ${w.message}\n`));
}
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
  process.stdout.write(`${VERSION}\n`);
} else {
  const [{ runCli }, { exitQuietlyOnClosedPipe }] = await Promise.all([import('./cli.ts'), import('./output.ts')]);
  exitQuietlyOnClosedPipe();
  process.exitCode = await runCli(argv);
}
