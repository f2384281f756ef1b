import type { CommandModule } from 'yargs';

// Each command lives in its own module; handlers import heavy packages lazily.
// Add a command by importing its module here.
export const commands: CommandModule<any, any>[] = [];
