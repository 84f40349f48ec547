// Resolve hook for import-trace.mjs: reports the package name of every bare import.
let port;
export function initialize(data) {
  port = data.port;
}
export async function resolve(specifier, context, next) {
  if (!specifier.startsWith('.') && !specifier.startsWith('/') && !specifier.startsWith('node:') && !specifier.startsWith('file:')) {
    const parts = specifier.split('/');
    port.postMessage(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]);
  }
  return next(specifier, context);
}
