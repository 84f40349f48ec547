/**
 * The signals that stop a long job, handled alike wherever the tool catches one: Ctrl-C
 * (SIGINT), a kill or a service manager (SIGTERM), and the terminal going away (SIGHUP: the
 * window closed, an SSH connection dropped). Node's default for each is to die at once, which
 * left a run's lock, the terminal's cursor and a half-drawn bar behind.
 */
import os from 'node:os';

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/** The status a shell reports for a process that died by `signal`: 128 + its number (130, 143, 129). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (os.constants.signals[signal] ?? 0);
}

/** Listens for every stop signal (`once` each, or for good); returns what removes the listener from all of them. */
export function onStopSignals(listener: (signal: NodeJS.Signals) => void, options: { once?: boolean; prepend?: boolean } = {}): () => void {
  const off = () => {
    for (const signal of STOP_SIGNALS) process.removeListener(signal, listener);
  };
  for (const signal of STOP_SIGNALS) {
    if (options.prepend) {
      if (options.once) process.prependOnceListener(signal, listener);
      else process.prependListener(signal, listener);
    } else if (options.once) process.once(signal, listener);
    else process.on(signal, listener);
  }
  return off;
}
