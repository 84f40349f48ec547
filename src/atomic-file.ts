/** Writing files so that a reader never sees half of one: temp file in the same folder, then rename. */
import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';

export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const temp = `${file}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
  try {
    await writeFile(temp, data);
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

export async function writeJsonAtomic(file: string, value: unknown, options: { pretty?: boolean } = {}): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, null, options.pretty === false ? undefined : 2)}\n`);
}
