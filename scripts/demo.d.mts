// Types for scripts/demo.mjs (imported by the attack suite and the pipeline tests).
export const REPO_ROOT: string;
export const CUSTODY_BIN: string;
export const DEMO_BIN: string;
export const LAYOUT_SOURCE: string;
export const FUNCTIONARIES: Record<string, string>;
export interface ExecResult { code: number; stdout: string; stderr: string }
export interface ExecOptions { cwd?: string; env?: NodeJS.ProcessEnv; echo?: boolean }
export function demoEnv(base?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
export function exec(cmd: string, args: string[], opts?: ExecOptions): Promise<ExecResult>;
export function custody(args: string[], opts?: ExecOptions): Promise<ExecResult>;
export interface DemoHub { modelId: string; path: string; url: string; revision: string; branch: string; tag: string; files: string[] }
export type DemoParams = { HUB_URL: string; MODEL_REVISION: string; BASE_MODEL_SHA256: string };
export function setupDemo(dir: string, opts?: { hubLicense?: string; echo?: boolean }): Promise<{ dir: string; hub: DemoHub; params: DemoParams }>;
export function paramArgs(params: Record<string, string>): string[];
export function runDemoPipeline(dir: string, params: Record<string, string>, extra?: string[], opts?: ExecOptions): Promise<ExecResult>;
export interface VerifyReport {
  verdict: 'pass' | 'fail';
  failure: null | { code: string; check: string; step?: string; message: string };
  warnings: string[];
  checks: { check: string; verdict: string; step?: string; message: string }[];
}
export function verifyDemo(dir: string, params: Record<string, string>, extra?: string[]): Promise<ExecResult & { report?: VerifyReport }>;
