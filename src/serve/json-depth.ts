/** A guard run before JSON.parse on request bodies: how deep arrays and objects nest. */

/** Deepest nesting of arrays and objects a JSON body may have: we read at most 3 ({"images": [[…]]}). */
export const MAX_JSON_DEPTH = 8;

/**
 * How deep `text`'s arrays and objects nest, counting brackets outside strings; stops (returning
 * limit + 1) at the first level beyond `limit`. A linear scan with no allocation, so a hostile
 * body costs what reading it costs.
 */
export function jsonNestingBeyond(text: string, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}
