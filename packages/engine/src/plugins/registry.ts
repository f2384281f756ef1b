import type { CustodyPlugin } from '../types.ts';

export interface RegisteredPlugin {
  name: string;
  /** Loaded on demand so that listing or running one plugin does not import every other. */
  load(): Promise<CustodyPlugin>;
}

/** Plugins known by a short name (the built-ins); `register` returns the registry for chaining. */
export class PluginRegistry {
  private readonly entries = new Map<string, RegisteredPlugin>();

  register(name: string, load: () => Promise<CustodyPlugin | { default: CustodyPlugin }>): this {
    this.entries.set(name, {
      name,
      load: async () => {
        const m = await load();
        return ('apply' in m ? m : m.default) as CustodyPlugin;
      },
    });
    return this;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  get(name: string): RegisteredPlugin | undefined {
    return this.entries.get(name);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }
}
