// The `custody` executable. Kept tiny: `--version` answers before anything heavy loads,
// and every command's handler imports the packages it needs lazily.
import { VERSION } from './version.ts';

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
  process.stdout.write(`${VERSION}\n`);
} else {
  const { runCli } = await import('./cli.ts');
  process.exitCode = await runCli(argv);
}
