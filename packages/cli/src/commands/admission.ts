import type { Argv, CommandModule } from 'yargs';

interface ServeArgs {
  config: string;
}

async function serveHandler(argv: ServeArgs): Promise<void> {
  const { CustodyError } = await import('@custody/core/errors');
  if (typeof argv.config !== 'string' || argv.config === '') throw new CustodyError('USAGE', 'missing --config FILE');
  const { startAdmissionServer } = await import('@custody/admission');
  const s = await startAdmissionServer({ configFile: argv.config });
  process.stderr.write(`custody admission: listening on ${s.url} (POST /validate, GET /healthz /readyz /metrics), ${s.config().policies.length} policies\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.stderr.write('custody admission: shutting down\n');
      s.close().then(resolve, resolve);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

export const admissionCommand: CommandModule<object, object> = {
  command: 'admission <command>',
  describe: 'Kubernetes admission webhook that runs the final verify for every image (docs/admission.md)',
  builder: (y: Argv) => y
    .command<ServeArgs>({
      command: 'serve',
      describe: 'serve a ValidatingAdmissionWebhook (admission.k8s.io/v1) over HTTPS: POST /validate, GET /healthz, /readyz, /metrics',
      builder: (b) => b.option('config', { type: 'string', demandOption: true, describe: 'admission config (YAML; paths in it are relative to it; reloaded when it or a file it names changes)' }) as unknown as Argv<ServeArgs>,
      handler: serveHandler,
    })
    .demandCommand(1, 'name an admission command: serve'),
  handler: () => undefined,
};
