/** Mounts a view on stderr (results stay on stdout) and re-renders it on every state change. */
import { render } from 'ink';
import type { ReactElement } from 'react';

export interface LiveView<S> {
  update(state: S): void;
  done(): void;
}

export function mountLive<S>(view: (state: S) => ReactElement, initial: S): LiveView<S> {
  const instance = render(view(initial), { stdout: process.stderr, patchConsole: false, exitOnCtrlC: false });
  let latest = initial;
  // Re-render at most every 100 ms: batch events come many times a second.
  let timer: NodeJS.Timeout | null = null;
  const flush = () => {
    timer = null;
    instance.rerender(view(latest));
  };
  const tick = setInterval(() => instance.rerender(view(latest)), 1000);
  return {
    update(state) {
      latest = state;
      timer ??= setTimeout(flush, 100);
    },
    done() {
      if (timer) clearTimeout(timer);
      clearInterval(tick);
      instance.rerender(view(latest));
      instance.unmount();
    },
  };
}
