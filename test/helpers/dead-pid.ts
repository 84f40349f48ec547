import { spawn } from 'node:child_process';

/** The pid of a real process that has exited (for stale locks and temp files left by a killed writer). */
export async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}
