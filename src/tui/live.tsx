/** Mounts a view on stderr (results stay on stdout) and re-renders it on every state change. */
import { render, useInput, useStdin } from 'ink';
import type { ReactElement, ReactNode } from 'react';
import { isSuspendKey, stopJob } from './suspend.js';
import { viewStream } from './view-stream.js';

export interface LiveView<S> {
  update(state: S): void;
  done(): void;
}

/**
 * Keys typed while the view is up are not echoed: Enter or letters printed into the frame
 * and pushed it out of place. Ink's raw mode (useInput, when stdin is a terminal) reads them
 * instead, and gives the terminal back as it was when the view is done. In raw mode Ctrl-C is
 * a key, not a signal: it is sent on as the SIGINT the commands handle (what is saved stays,
 * how to continue, exit 130). Ctrl-Z, a key too, suspends the job (`onSuspend`, ./suspend.ts).
 */
function KeysOff({ children, onSuspend }: { children: ReactNode; onSuspend: () => void }) {
  const { isRawModeSupported } = useStdin();
  useInput(
    (input, key) => {
      // (also inside a chunk of several keys, which Ink passes on as one input)
      if ((key.ctrl && input === 'c') || input.includes('\u0003')) process.kill(process.pid, 'SIGINT');
      else if (isSuspendKey(input, key)) onSuspend();
    },
    { isActive: isRawModeSupported === true },
  );
  return children;
}

export function mountLive<S>(view: (state: S) => ReactElement, initial: S): LiveView<S> {
  let latest = initial;
  let mounted = true;
  let suspended = false;
  const frame = (state: S) => <KeysOff onSuspend={suspend}>{view(state)}</KeysOff>;
  const mount = () => render(frame(latest), { stdout: viewStream(), patchConsole: false, exitOnCtrlC: false });
  let instance = mount();
  // Ctrl-Z: the frame stays on screen as it was, the terminal goes back to the shell, and the
  // job stops; continued, the view is drawn again below what the shell printed meanwhile.
  function suspend(): void {
    if (suspended || !mounted) return;
    suspended = true;
    instance.unmount();
    stopJob(() => {
      suspended = false;
      if (mounted) instance = mount();
    });
  }
  // Re-render at most every 100 ms: batch events come many times a second.
  let timer: NodeJS.Timeout | null = null;
  const redraw = () => {
    if (!suspended) instance.rerender(frame(latest));
  };
  const flush = () => {
    timer = null;
    redraw();
  };
  const tick = setInterval(redraw, 1000);
  return {
    update(state) {
      latest = state;
      timer ??= setTimeout(flush, 100);
    },
    done() {
      if (timer) clearTimeout(timer);
      clearInterval(tick);
      // (done twice, from the interrupt handler and the command's finally: the first one counts)
      if (!mounted) return;
      mounted = false;
      if (suspended) return;
      instance.rerender(frame(latest));
      instance.unmount();
    },
  };
}
