/**
 * One colour decision for everything we draw ourselves (digit grids, tables): ansis's, which
 * honours NO_COLOR, FORCE_COLOR, TERM=dumb and whether stdout is a terminal, narrowed to
 * streams that are terminals unless FORCE_COLOR asks for colour anyway. Ink's views colour
 * through chalk, whose supports-color follows FORCE_COLOR and TERM=dumb but not NO_COLOR:
 * `followNoColor` (the base command's init, before any command loads Ink) says it to chalk.
 */
import ansis from 'ansis';

export function colorOn(stream: { isTTY?: boolean } = process.stdout): boolean {
  return ansis.level > 0 && (Boolean(stream.isTTY) || (process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0'));
}

/**
 * NO_COLOR (any non-empty value, https://no-color.org) as FORCE_COLOR=0 when FORCE_COLOR is
 * not set, so that chalk (Ink's colours), which reads FORCE_COLOR when it loads, has level 0.
 * Child processes inherit it, as they do NO_COLOR.
 */
export function followNoColor(env: NodeJS.ProcessEnv = process.env): void {
  if (env.NO_COLOR && env.FORCE_COLOR === undefined) env.FORCE_COLOR = '0';
}
