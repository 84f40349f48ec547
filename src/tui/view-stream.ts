/**
 * The stream our Ink views draw on: stderr, with Ink 6's full clear made scrollback-safe.
 *
 * When the frame last drawn is as tall as the terminal, Ink 6.8 redraws by writing
 * `clearTerminal` (ESC[2J ESC[3J ESC[H), and ESC[3J erases the terminal's scrollback. A
 * terminal made shorter while a view is up puts Ink on that path (the frame drawn before the
 * resize is as tall as the old window): the user's shell history and `digits run`'s
 * [import]/[train] lines above the view were wiped (until session 43). Ink fixed it upstream
 * (vadimdemedes/ink#994, after #935 and #990: home and erase-down, which clears only what is
 * visible) in a release that needs Node 22; on Ink 6 the same replacement is made on the way
 * to the terminal.
 */
const CLEAR_TERMINAL = '\u001B[2J\u001B[3J\u001B[H';
/** ESC[1;1H ESC[J: cursor home, then erase to the end of the screen (the visible part only) */
const HOME_AND_ERASE_DOWN = '\u001B[1;1H\u001B[J';

const wrapped = new WeakMap<NodeJS.WriteStream, NodeJS.WriteStream>();

/** `stream` as Ink should see it: the same stream (size, TTY, resize events), its writes without ESC[3J clears. */
export function scrollbackSafe(stream: NodeJS.WriteStream): NodeJS.WriteStream {
  const known = wrapped.get(stream);
  if (known) return known;
  const write = (chunk: unknown, ...rest: unknown[]) =>
    (stream.write as (...args: unknown[]) => boolean)(typeof chunk === 'string' && chunk.includes(CLEAR_TERMINAL) ? chunk.split(CLEAR_TERMINAL).join(HOME_AND_ERASE_DOWN) : chunk, ...rest);
  const proxy = new Proxy(stream, {
    get(target, property) {
      if (property === 'write') return write;
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  wrapped.set(stream, proxy);
  return proxy;
}

/** The stream of every live view and the dashboard. */
export const viewStream = (): NodeJS.WriteStream => scrollbackSafe(process.stderr);
