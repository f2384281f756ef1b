import type { CommandModule } from 'yargs';
import { keygenCommand } from './keygen.ts';
import { keyCommand } from './key.ts';
import { linkCommand } from './link.ts';
import { runCommand } from './run.ts';
import { recordCommand } from './record.ts';
import { evidenceCommand } from './evidence.ts';
import { pluginsCommand } from './plugins.ts';
import { verifyCommand } from './verify.ts';
import { layoutCommand } from './layout.ts';
import { verifyBundleCommand } from './verify-bundle.ts';
import { modelCommand } from './model.ts';
import { pipelineCommand } from './pipeline.ts';
import { pushCommand } from './push.ts';
import { pullCommand } from './pull.ts';
import { admissionCommand } from './admission.ts';
import { registryCommand } from './registry.ts';
import { traceCommand } from './trace.ts';

// Each command lives in its own module; handlers import heavy packages lazily.
// Add a command by importing its module here.
export const commands: CommandModule<any, any>[] = [keygenCommand, keyCommand, linkCommand, runCommand, recordCommand, evidenceCommand, pluginsCommand, verifyBundleCommand, verifyCommand, layoutCommand, modelCommand, pipelineCommand, pushCommand, pullCommand, admissionCommand, registryCommand, traceCommand];
