import type { Argv, CommandModule } from 'yargs';
import { connectionOptions, type RegistryArgs } from './push.ts';

interface LoginArgs extends RegistryArgs {
  host: string;
  username: string;
  'password-stdin'?: boolean;
}

/** Reads the password from stdin (as `docker login --password-stdin`): one line, trailing newline dropped. */
async function readPasswordFromStdin(): Promise<string> {
  const { CustodyError } = await import('@custody/core/errors');
  if (process.stdin.isTTY) throw new CustodyError('USAGE', 'the password is read from stdin: pipe it in (e.g. printf %s "$PASSWORD" | custody registry login HOST -u USER)');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of process.stdin) {
    size += (c as Buffer).length;
    if (size > 64 * 1024) throw new CustodyError('USAGE', 'the password on stdin is longer than 64 KiB');
    chunks.push(c as Buffer);
  }
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password === '') throw new CustodyError('USAGE', 'no password on stdin');
  return password;
}

async function loginHandler(argv: LoginArgs): Promise<void> {
  const [{ CustodyError }, store] = await Promise.all([import('@custody/core/errors'), import('@custody/store')]);
  const host = argv.host;
  if (typeof host !== 'string' || !/^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::\d{1,5})?$/.test(host)) {
    throw new CustodyError('USAGE', `registry ${JSON.stringify(host)}: expected HOST[:PORT] (no scheme, no repository)`);
  }
  if (typeof argv.username !== 'string' || argv.username === '' || argv.username.includes(':')) throw new CustodyError('USAGE', '--username: a non-empty name without ":"');
  const password = await readPasswordFromStdin();
  const timeout = argv['registry-timeout'];
  // Check the credentials first, as docker login does: nothing is saved that the registry refuses.
  const client = new store.RegistryClient({
    registry: store.registryBaseUrl(host, argv['plain-http'] ?? false),
    credentials: { username: argv.username, password, source: 'the login' },
    ...(argv['ca-file'] ? { caFile: argv['ca-file'] } : {}),
    ...(timeout ? { timeoutMs: Math.round(timeout * 1000) } : {}),
  });
  await client.checkLogin();
  const { where } = await store.saveCredentials(host, argv.username, password);
  console.log(`Login Succeeded: ${argv.username} at ${host} (saved in ${where})`);
}

const loginCommand: CommandModule<object, LoginArgs> = {
  command: 'login <host>',
  describe: 'check a username and password (read from stdin) with a registry and save them as docker login does ($DOCKER_CONFIG/config.json, else ~/.docker/config.json, or its credential helper)',
  builder: (y) => (connectionOptions(y) as Argv<object>)
    .positional('host', { type: 'string', demandOption: true, describe: 'registry HOST[:PORT], as in image references' })
    .option('username', { alias: 'u', type: 'string', demandOption: true, describe: 'user name' })
    .option('password-stdin', { type: 'boolean', default: true, describe: 'read the password from stdin (always; accepted for docker compatibility)' }) as unknown as Argv<LoginArgs>,
  handler: loginHandler,
};

export const registryCommand: CommandModule = {
  command: 'registry <command>',
  describe: 'credentials for OCI registries (as docker, cosign and oras find them)',
  builder: (y) => y.command(loginCommand).demandCommand(1, 'name a registry command (login)'),
  handler: () => undefined,
};
