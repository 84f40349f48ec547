/**
 * The size of the terminal the view is drawn on (Ink's stdout: stderr in our views), kept
 * current: a view that read it once kept its old layout after a resize (hard-wrapped by Ink
 * when the window shrank, the small one when it grew).
 */
import { useStdout } from 'ink';
import { useEffect, useState } from 'react';

export interface TerminalSize {
  /** undefined when the stream is not a terminal */
  columns: number | undefined;
  rows: number | undefined;
}

type SizedStream = Pick<NodeJS.WriteStream, 'on' | 'off'> & { columns?: number; rows?: number };

export function useTerminalSize(): TerminalSize {
  const { stdout } = useStdout();
  const stream = stdout as SizedStream;
  const read = (): TerminalSize => ({ columns: stream.columns || undefined, rows: stream.rows || undefined });
  const [size, setSize] = useState(read);
  useEffect(() => {
    const resized = () => setSize((old) => {
      const now = read();
      return now.columns === old.columns && now.rows === old.rows ? old : now;
    });
    stream.on('resize', resized);
    // (a resize between the first render and this effect)
    resized();
    return () => {
      stream.off('resize', resized);
    };
  }, [stream]);
  return size;
}
