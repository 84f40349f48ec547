/**
 * Entry of an image-decoding worker thread (decode-pool.ts): PNG/JPEG bytes in, the 28×28
 * digit out (`imageFileToDigit`), one file at a time. A client's mistake comes back as the
 * InputError's fields, so the HTTP thread answers it with the same status and hint.
 *
 * The thread lowers its own scheduling priority first: on Linux a nice value belongs to a
 * thread, and `os.setPriority(0, …)` (setpriority(PRIO_PROCESS, 0)) sets the calling one, so a
 * burst of large decodes yields the cores to the HTTP thread and the inference workers
 * instead of delaying /healthz and small predictions (man 7 sched, "the nice value is a
 * per-thread attribute").
 */
import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { InputError, imageFileToDigit } from './image-input.js';
import type { DecodeReply, DecodeRequest, DecodeWorkerData } from './decode-pool.js';

const data = workerData as DecodeWorkerData;
try {
  if (data.nice !== 0) os.setPriority(0, data.nice);
} catch {
  // Not allowed here (some containers): the decodes just run at normal priority.
}

const port = parentPort!;
port.on('message', (message: DecodeRequest) => {
  let reply: DecodeReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const digit = imageFileToDigit(message.bytes, message.what);
    reply = { id: message.id, digit };
    transfer = [digit.buffer as ArrayBuffer];
  } catch (error) {
    reply =
      error instanceof InputError
        ? { id: message.id, input: { status: error.status, message: error.message, hint: error.hint, kind: error.kind } }
        : { id: message.id, failure: (error as Error).stack ?? String(error) };
  }
  port.postMessage(reply, transfer);
});
port.postMessage({ ready: true });
