import type { CommandModule } from 'yargs';

interface KeygenArgs {
  name: string;
  type: 'ed25519' | 'ecdsa-p256' | 'ecdsa-p384' | 'rsa';
  'passphrase-file'?: string;
  force: boolean;
}

export const keygenCommand: CommandModule<object, KeygenArgs> = {
  command: 'keygen <name>',
  describe: 'generate a key pair: NAME (PKCS#8 PEM private key, mode 0600) and NAME.pub (SPKI PEM public key)',
  builder: (y) => y
    .positional('name', { type: 'string', demandOption: true, describe: 'path of the private key file; the public key goes to NAME.pub' })
    .option('type', { alias: 't', choices: ['ed25519', 'ecdsa-p256', 'ecdsa-p384', 'rsa'] as const, default: 'ed25519' as const, describe: 'key type (rsa is 3072-bit)' })
    .option('passphrase-file', { type: 'string', describe: 'encrypt the private key (AES-256-CBC PKCS#8) with the passphrase in this file' })
    .option('force', { type: 'boolean', default: false, describe: 'replace existing key files' }) as any,
  handler: async (argv) => {
    const { generateKeyPair, writeKeyPair, readPassphraseFile } = await import('@custody/sign/keys');
    const passphrase = argv['passphrase-file'] ? await readPassphraseFile(argv['passphrase-file']) : undefined;
    const pair = generateKeyPair(argv.type, { passphrase });
    const { privatePath, publicPath } = await writeKeyPair(argv.name, pair, { overwrite: argv.force });
    process.stdout.write(`keyid:       ${pair.keyid}\nprivate key: ${privatePath}${passphrase ? ' (encrypted)' : ''}\npublic key:  ${publicPath}\n`);
  },
};
