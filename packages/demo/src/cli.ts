// `custody-demo` — the commands the ML pipeline layout's steps run.
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { CustodyError, isCustodyError } from '@custody/core';
import { createHub, fetchModel } from './hub.ts';
import { fetchData } from './fetch-data.ts';
import { runTrain } from './train.ts';
import { buildImage, parsePlantedPackage, SERVER_SCRIPT, writeOsvSnapshot, type ImageBuilder } from './oci/image.ts';
import { extractImageFiles, listImageFiles } from './oci/layout.ts';

const USAGE = `usage: custody-demo <command> [options]
  hub          --dir DIR [--model-id OWNER/NAME] [--license ID] [--overwrite]
               create the local hub's bare git repository; prints {url, revision, ...} as JSON
  fetch-model  --url URL --revision COMMIT --out DIR
  fetch-data   --out DIR [--source DIR] [--any-digest]
  train        DATA OUT [--base-model DIR] [--seed N]   (DATA: .arff file or folder holding one)
  build-image  --model DIR --out DIR [--tag TAG] [--builder auto|buildah|custody]
               [--package pypi:NAME==VERSION[:LICENSE] | npm:NAME@VERSION[:LICENSE]]... [--osv-db FILE]
               (--osv-db: write the demo's OSV database snapshot there, for the step's scan)
  image-files  IMAGE_LAYOUT_DIR [--ref TAG]              list the image's files with sha256 (JSON)
  extract-image IMAGE_LAYOUT_DIR OUT [--ref TAG]        write the image's files under OUT
  serve        --model DIR [--port N] [--host H]         run the inference server on a model folder`;

function need(v: string | boolean | undefined, name: string): string {
  if (typeof v !== 'string' || v === '') throw new CustodyError('USAGE', `--${name} is required\n${USAGE}`);
  return v;
}

export async function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s + '\n')): Promise<number> {
  const [command, ...rest] = argv;
  try {
    const { values: v, positionals: p } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        dir: { type: 'string' }, 'model-id': { type: 'string' }, license: { type: 'string' }, overwrite: { type: 'boolean' },
        url: { type: 'string' }, revision: { type: 'string' }, out: { type: 'string' }, source: { type: 'string' },
        'any-digest': { type: 'boolean' }, 'base-model': { type: 'string' }, seed: { type: 'string' }, data: { type: 'string' },
        model: { type: 'string' }, tag: { type: 'string' }, builder: { type: 'string' }, ref: { type: 'string' },
        port: { type: 'string' }, host: { type: 'string' }, package: { type: 'string', multiple: true }, 'osv-db': { type: 'string' },
      },
    });
    switch (command) {
      case 'hub': {
        const hub = await createHub({ dir: need(v.dir, 'dir'), modelId: v['model-id'], license: v.license, overwrite: v.overwrite });
        out(JSON.stringify(hub, null, 2));
        return 0;
      }
      case 'fetch-model': {
        const r = await fetchModel({ url: need(v.url, 'url'), revision: need(v.revision, 'revision'), out: need(v.out, 'out') });
        out(`fetched ${r.files.length} files at ${r.revision}`);
        return 0;
      }
      case 'fetch-data': {
        const r = await fetchData({ out: need(v.out, 'out'), source: v.source, expectedSha256: v['any-digest'] ? null : undefined });
        out(`copied ${r.files.join(', ')} (sha256 ${r.sha256})`);
        return 0;
      }
      case 'train': {
        const data = p[0] ?? v.data;
        const dest = p[1] ?? v.out;
        const seed = v.seed === undefined ? undefined : Number(v.seed);
        if (seed !== undefined && !Number.isInteger(seed)) throw new CustodyError('USAGE', '--seed must be an integer');
        const r = await runTrain({ data: need(data, 'data'), out: need(dest, 'out'), baseModel: v['base-model'], seed });
        const m = r.model.metrics;
        out(`trained in ${Math.round(r.trainMs)} ms: accuracy ${m.accuracy}, f1 ${m.f1}, roc_auc ${m.roc_auc} on ${m.n_test} test rows`);
        return 0;
      }
      case 'build-image': {
        const builder = (v.builder ?? 'auto') as ImageBuilder;
        if (!['auto', 'buildah', 'custody'].includes(builder)) throw new CustodyError('USAGE', `--builder must be auto, buildah or custody`);
        const packages = (v.package ?? []).map(parsePlantedPackage);
        const r = await buildImage({ modelDir: need(v.model, 'model'), out: need(v.out, 'out'), tag: v.tag, builder, overwrite: v.overwrite, packages });
        if (v['osv-db']) await writeOsvSnapshot(v['osv-db']);
        out(`${r.manifestDigest} (${r.builder}, ${Math.round(r.buildMs)} ms)`);
        return 0;
      }
      case 'image-files': {
        out(JSON.stringify(await listImageFiles(need(p[0], 'image'), { ref: v.ref }), null, 2));
        return 0;
      }
      case 'extract-image': {
        const files = await extractImageFiles(need(p[0], 'image'), need(p[1] ?? v.out, 'out'), { ref: v.ref });
        out(`extracted ${files.length} files`);
        return 0;
      }
      case 'serve': {
        const child = spawn(process.execPath, [SERVER_SCRIPT], {
          stdio: 'inherit',
          env: { ...process.env, MODEL_DIR: need(v.model, 'model'), PORT: v.port ?? '8080', HOST: v.host ?? '127.0.0.1' },
        });
        return await new Promise((res) => child.on('exit', (code) => res(code ?? 1)));
      }
      default:
        throw new CustodyError('USAGE', command ? `unknown command '${command}'\n${USAGE}` : USAGE);
    }
  } catch (e) {
    if (isCustodyError(e)) {
      process.stderr.write(`custody-demo: ${e.file ? `${e.file}: ` : ''}${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`custody-demo: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
