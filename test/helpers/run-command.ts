/** Runs an oclif command class in-process the way oclif does, capturing what it printed and its exit code. */
import { fileURLToPath } from 'node:url';
import { vi } from 'vitest';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export async function runCommand(command: { run(argv: string[], root: string): Promise<unknown> }, argv: string[], root = repoRoot) {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  let exit = 0;
  try {
    await command.run(argv, root);
  } catch (error) {
    const code = (error as { oclif?: { exit?: number } }).oclif?.exit;
    if (code === undefined) throw error;
    exit = code;
  } finally {
    vi.restoreAllMocks();
  }
  return { stdout, stderr, exit };
}
