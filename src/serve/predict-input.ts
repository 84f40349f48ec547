/**
 * The options of a `POST /v1/predict` request (JSON body or query): flags, member names and
 * unknown keys, checked into 400s that say what to send instead. Parsing of images themselves
 * is in image-input.ts; server.ts routes the request.
 */
import type { ServedEnsemble } from './ensemble.js';
import { InputError } from './image-input.js';

export function isTrue(value: unknown, what: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === '1' || value === '') return true;
  if (value === 'false' || value === '0') return false;
  throw new InputError(400, `${what} is ${JSON.stringify(value)}; it must be true or false`, 'Use tta=true or tta=false.', 'bad_option');
}

/** `ServedEnsemble` members by name → indices, for a request's `members` option. */
export function memberIndices(ensemble: ServedEnsemble, value: unknown): number[] | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const names = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : null;
  if (!names || names.some((n) => typeof n !== 'string')) {
    throw new InputError(400, 'members must be a list of member names', 'Use members=a,b in the query or "members": ["a", "b"] in JSON.', 'bad_option');
  }
  const available = ensemble.members.map((m) => m.name);
  const indices: number[] = [];
  for (const raw of names as string[]) {
    const name = raw.trim();
    const index = available.indexOf(name);
    if (index < 0) throw new InputError(400, `there is no member ${JSON.stringify(name)} in this ensemble`, `Members: ${available.join(', ')} (GET /v1/model lists them).`, 'unknown_member');
    if (!indices.includes(index)) indices.push(index);
  }
  if (indices.length === 0) throw new InputError(400, 'members names no member', `Members: ${available.join(', ')}.`, 'unknown_member');
  return indices;
}

export function rejectUnknownKeys(object: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) throw new InputError(400, `unknown ${where} option ${JSON.stringify(key)}`, `Allowed: ${allowed.join(', ')}.`, 'unknown_option');
  }
}

export interface ParsedPredict {
  images: Float32Array;
  count: number;
  tta: boolean;
  members?: number[];
  /** the 28×28 digits made from uploaded files (0–255), to show what the members saw */
  inputs: number[][] | null;
}
