import type { CommandModule } from 'yargs';

interface KeyFileArgs { file: string; 'passphrase-file'?: string }

async function loadAnyPublicKey(file: string, passphraseFile?: string) {
  const sign = await import('@custody/sign/keys');
  if (passphraseFile) {
    // An encrypted private key file: its public part needs the passphrase.
    const signer = await sign.loadSigner(file, { passphrase: await sign.readPassphraseFile(passphraseFile) });
    return signer.publicKey;
  }
  return sign.loadPublicKey(file);
}

const fileOptions = (y: any) => y
  .positional('file', { type: 'string', demandOption: true, describe: 'public or private key file (PEM or securesystemslib JSON)' })
  .option('passphrase-file', { type: 'string', describe: 'passphrase of an encrypted private key file' });

const idCommand: CommandModule<object, KeyFileArgs> = {
  command: 'id <file>',
  describe: 'print the keyid exactly as in-toto computes it',
  builder: fileOptions,
  handler: async (argv) => {
    const key = await loadAnyPublicKey(argv.file, argv['passphrase-file']);
    process.stdout.write(`${key.keyid}\n`);
  },
};

const showCommand: CommandModule<object, KeyFileArgs> = {
  command: 'show <file>',
  describe: 'print the public key in securesystemslib form (as embedded in a layout\'s keys)',
  builder: fileOptions,
  handler: async (argv) => {
    const key = await loadAnyPublicKey(argv.file, argv['passphrase-file']);
    process.stdout.write(`${JSON.stringify(key.sslib, null, 2)}\n`);
  },
};

export const keyCommand: CommandModule = {
  command: 'key <command>',
  describe: 'inspect keys (keyid, securesystemslib form)',
  builder: (y) => y.command(idCommand).command(showCommand).demandCommand(1, 'name a key command: id, show'),
  handler: () => undefined,
};
