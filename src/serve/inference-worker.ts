/**
 * Entry of an inference worker thread (inference-pool.ts): loads every member on ONNX Runtime
 * with `createPredictor`, runs each once on a blank image (the first run plans and allocates,
 * which should not be a client's latency), reports ready, then answers predict calls in turn.
 *
 * It ends itself, between runs, when asked to close: a thread terminated from outside while
 * onnxruntime-node's native run is under way aborts the whole process (the binding throws a
 * C++ Napi::Error into a stopping environment), so the pool never does that.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createPredictor, type Predictor } from '../inference/predictor.js';
import { serializeError, type FromWorker, type InferenceWorkerData, type LoadedMember, type ToWorker } from './inference-protocol.js';

const data = workerData as InferenceWorkerData;
const port = parentPort!;
const post = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

async function load(): Promise<Predictor[]> {
  const predictors: Predictor[] = [];
  try {
    for (const checkpoint of data.checkpoints) predictors.push(await createPredictor(checkpoint, { infer: 'onnx', ...data.options }));
    for (const p of predictors) await p.predict(new Float32Array(p.imageSize * p.imageSize), 1);
    return predictors;
  } catch (error) {
    for (const p of predictors) p.dispose();
    throw error;
  }
}

const loading = load();
/** the call being computed (calls run one after another) */
let current: Promise<void> = Promise.resolve();
let crashCode: number | null = null;

async function predict(message: Extract<ToWorker, { type: 'predict' }>): Promise<void> {
  const predictors = await loading;
  // The test hook: die at this call, as a crash would, with the call unanswered.
  if (crashCode !== null) process.exit(crashCode);
  const started = performance.now();
  try {
    const probs = await predictors[message.member]!.predict(message.images, message.count);
    // ONNX Runtime's output may live in memory it owns: send a copy we can transfer.
    const out = probs.slice();
    post({ type: 'result', id: message.id, probs: out, ms: performance.now() - started }, [out.buffer]);
  } catch (error) {
    post({ type: 'error', id: message.id, error: serializeError(error) });
  }
}

async function close(): Promise<void> {
  await current;
  for (const p of await loading.catch(() => [])) p.dispose();
  process.exit(0);
}

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'predict':
      current = current.then(() => predict(message)).catch(() => undefined);
      break;
    case 'close':
      void close();
      break;
    case 'crash-on-next-call':
      crashCode = message.code;
      break;
  }
});

loading.then(
  (predictors) => {
    const members: LoadedMember[] = predictors.map((p) => ({ imageSize: p.imageSize, precision: p.precision, reason: p.reason }));
    post({ type: 'loaded', members });
  },
  (error: unknown) => {
    post({ type: 'load-error', error: serializeError(error) });
    // Nothing to answer: end between native calls, not by being terminated.
    process.exit(1);
  },
);
