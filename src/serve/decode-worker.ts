/**
 * Entry of an image-decoding child process (decode-pool.ts): PNG/JPEG bytes in, the 28×28
 * digit out (`imageFileToDigit`), one file at a time, over the IPC channel. A client's
 * mistake comes back as the InputError's fields, so the HTTP thread answers it with the same
 * status and hint. Its argument is the nice value to take (0 leaves it).
 *
 * The process lowers its own scheduling priority first: on Linux a nice value belongs to a
 * thread, and `os.setPriority(0, …)` (setpriority(PRIO_PROCESS, 0)) sets the calling one, the
 * one that decodes, so a burst of large decodes yields the cores to the HTTP thread and the
 * inference workers instead of delaying /healthz and small predictions (man 7 sched, "the
 * nice value is a per-thread attribute"). It ends when the server goes (the channel closes),
 * so no decoder outlives it.
 */
import os from 'node:os';
import { InputError, imageFileToDigit } from './image-input.js';
import type { DecodeReply, DecodeRequest } from './decode-pool.js';

const nice = Number(process.argv[2] ?? 0);
try {
  if (nice !== 0) os.setPriority(0, nice);
} catch {
  // Not allowed here (some containers): the decodes just run at normal priority.
}

const send = (message: DecodeReply | { ready: true }) => process.send!(message);
process.on('message', (message: DecodeRequest) => {
  let reply: DecodeReply;
  try {
    reply = { id: message.id, digit: imageFileToDigit(message.bytes, message.what) };
  } catch (error) {
    reply =
      error instanceof InputError
        ? { id: message.id, input: { status: error.status, message: error.message, hint: error.hint, kind: error.kind } }
        : { id: message.id, failure: (error as Error).stack ?? String(error) };
  }
  send(reply);
});
process.on('disconnect', () => process.exit(0));
send({ ready: true });
