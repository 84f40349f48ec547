// `node --import ./test/helpers/import-trace.mjs …`: prints on exit (to stderr, one per line,
// prefixed "loaded ") every package the process resolved from node_modules, so a test can
// check which heavy modules importing a command module pulls in.
import { register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';

const { port1, port2 } = new MessageChannel();
const seen = new Set();
port1.on('message', (name) => seen.add(name));
port1.unref();
register(new URL('./import-trace-hooks.mjs', import.meta.url), { data: { port: port2 }, transferList: [port2] });
process.on('exit', () => {
  for (const name of [...seen].sort()) process.stderr.write(`loaded ${name}\n`);
});
