/** Backend names, in a module of their own so flag definitions do not load tfjs. */
export const BACKEND_NAMES = ['auto', 'gpu', 'node', 'wasm', 'cpu'] as const;
export type BackendRequest = (typeof BACKEND_NAMES)[number];
export type BackendKind = Exclude<BackendRequest, 'auto'>;
