/**
 * One colour decision for everything we draw ourselves (digit grids, tables): ansis's, which
 * honours NO_COLOR, FORCE_COLOR, TERM=dumb and whether stdout is a terminal, narrowed to
 * streams that are terminals unless FORCE_COLOR asks for colour anyway. Ink's views colour
 * through chalk, which follows the same variables.
 */
import ansis from 'ansis';

export function colorOn(stream: { isTTY?: boolean } = process.stdout): boolean {
  return ansis.level > 0 && (Boolean(stream.isTTY) || (process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0'));
}
