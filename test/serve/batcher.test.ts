/**
 * The dynamic batcher with predictors that record their calls (pure arithmetic, so the
 * expected probabilities are known exactly): merging, max batch, member subsets, TTA
 * averaging equal to predictEnsemble, failures reaching every request of the batch.
 */
import { describe, expect, test } from 'vitest';
import { type Predictor } from '../../src/inference/predictor.js';
import { predictEnsemble } from '../../src/ensemble/predict-ensemble.js';
import { TTA_8 } from '../../src/ensemble/tta.js';
import { DynamicBatcher, BatcherAbortedError, BatcherClosedError } from '../../src/serve/batcher.js';

/** Probabilities from the image's first pixels, shifted by `bias` (deterministic, distinct per member). */
class RecordingPredictor implements Predictor {
  readonly kind = 'onnx' as const;
  readonly precision = 'fp32' as const;
  readonly imageSize = 28;
  readonly reason = 'test';
  calls: number[] = [];
  fail = false;

  constructor(private readonly bias: number) {}

  async predict(images: Float32Array, count: number): Promise<Float32Array> {
    this.calls.push(count);
    if (this.fail) throw new Error('member exploded');
    const out = new Float32Array(count * 10);
    for (let i = 0; i < count; i++) {
      let total = 0;
      for (let k = 0; k < 10; k++) {
        const v = 1 + this.bias * k + images[i * 784 + 300 + k]! * (k + 1);
        out[i * 10 + k] = v;
        total += v;
      }
      for (let k = 0; k < 10; k++) out[i * 10 + k]! /= total;
    }
    return out;
  }

  dispose(): void {}
}

function image(seed: number): Float32Array {
  return Float32Array.from({ length: 784 }, (_, i) => ((i * 7 + seed * 13) % 17) / 16);
}

describe('DynamicBatcher', () => {
  test('members with weights (ensemble selection) give the weighted mean, renormalised over the members a request picks', async () => {
    const a = new RecordingPredictor(0.1);
    const b = new RecordingPredictor(0.3);
    const c = new RecordingPredictor(0.5);
    const batcher = new DynamicBatcher([{ name: 'a', predictor: a, weight: 0.6 }, { name: 'b', predictor: b, weight: 0.2 }, { name: 'c', predictor: c, weight: 0 }], { windowMs: 0 });
    const img = image(4);
    const [pa, pb, pc] = await Promise.all([a, b, c].map((p) => p.predict(img, 1)));
    const all = await batcher.submit({ images: img, count: 1, tta: false });
    for (let k = 0; k < 10; k++) expect(all.ensemble[k]).toBeCloseTo((0.6 * pa![k]! + 0.2 * pb![k]!) / 0.8, 6);
    // only b and c: weights 0.2 and 0 → b alone
    const bc = await batcher.submit({ images: img, count: 1, tta: false, members: [1, 2] });
    for (let k = 0; k < 10; k++) expect(bc.ensemble[k]).toBeCloseTo(pb![k]!, 6);
    // only c (weight 0): its plain mean
    const onlyC = await batcher.submit({ images: img, count: 1, tta: false, members: [2] });
    for (let k = 0; k < 10; k++) expect(onlyC.ensemble[k]).toBeCloseTo(pc![k]!, 6);
    await batcher.close();
  });

  test('requests within the window share one call per member; results are split back exactly', async () => {
    // Given two members and a 20 ms window
    const a = new RecordingPredictor(0.1);
    const b = new RecordingPredictor(0.3);
    const batcher = new DynamicBatcher([{ name: 'a', predictor: a }, { name: 'b', predictor: b }], { maxBatch: 64, windowMs: 20 });
    // When 10 requests of 1–3 images arrive together
    const requests = Array.from({ length: 10 }, (_, r) => {
      const count = 1 + (r % 3);
      const images = new Float32Array(count * 784);
      for (let i = 0; i < count; i++) images.set(image(r * 3 + i), i * 784);
      return { images, count };
    });
    const results = await Promise.all(requests.map((r) => batcher.submit({ ...r, tta: false })));
    // Then each member ran once, on all 19 images
    expect(a.calls).toEqual([19]);
    expect(b.calls).toEqual([19]);
    expect(results.every((r) => r.batchRequests === 10 && r.batchImages === 19)).toBe(true);
    // and each request got what predictEnsemble gives for its own images
    for (const [r, req] of requests.entries()) {
      const expected = await predictEnsemble([new RecordingPredictor(0.1), new RecordingPredictor(0.3)], req.images, req.count);
      for (let k = 0; k < expected.length; k++) expect(results[r]!.ensemble[k]).toBeCloseTo(expected[k]!, 6);
      expect(results[r]!.members.map((m) => m.length)).toEqual([req.count * 10, req.count * 10]);
    }
    await batcher.close();
  });

  test('max batch splits a burst; a member subset runs only that member on those rows; TTA averages the 8 shifts', async () => {
    const a = new RecordingPredictor(0.1);
    const b = new RecordingPredictor(0.3);
    const batcher = new DynamicBatcher([{ name: 'a', predictor: a }, { name: 'b', predictor: b }], { maxBatch: 4, windowMs: 5 });
    const one = (seed: number) => ({ images: image(seed), count: 1 });
    const [plain, onlyB, tta, ...rest] = await Promise.all([
      batcher.submit({ ...one(1), tta: false }),
      batcher.submit({ ...one(2), tta: false, members: [1] }),
      batcher.submit({ ...one(3), tta: true }),
      ...[4, 5, 6].map((s) => batcher.submit({ ...one(s), tta: false })),
    ]);
    // 6 images with max 4: two batches
    expect(plain!.batchImages).toBe(4);
    expect(rest.at(-1)!.batchImages).toBe(2);
    // batch 1: a runs on rows of requests 1, 3 (8 TTA rows) and 4 = 10 rows; b on all 11
    expect(a.calls).toEqual([10, 2]);
    expect(b.calls).toEqual([11, 2]);
    expect(onlyB!.memberIndices).toEqual([1]);
    const bAlone = await new RecordingPredictor(0.3).predict(image(2), 1);
    for (let k = 0; k < 10; k++) expect(onlyB!.ensemble[k]).toBeCloseTo(bAlone[k]!, 6);
    const expected = await predictEnsemble([new RecordingPredictor(0.1), new RecordingPredictor(0.3)], image(3), 1, { tta: TTA_8 });
    for (let k = 0; k < 10; k++) expect(tta!.ensemble[k]).toBeCloseTo(expected[k]!, 6);
    await batcher.close();
  });

  test('a failing member rejects every request of its batch; the next batch works; closed batchers refuse', async () => {
    const a = new RecordingPredictor(0.1);
    const batcher = new DynamicBatcher([{ name: 'a', predictor: a }], { windowMs: 5 });
    a.fail = true;
    const failed = await Promise.allSettled([batcher.submit({ images: image(1), count: 1, tta: false }), batcher.submit({ images: image(2), count: 1, tta: false })]);
    expect(failed.map((f) => f.status)).toEqual(['rejected', 'rejected']);
    a.fail = false;
    await expect(batcher.submit({ images: image(1), count: 1, tta: false })).resolves.toMatchObject({ batchImages: 1 });
    await batcher.close();
    await expect(batcher.submit({ images: image(1), count: 1, tta: false })).rejects.toBeInstanceOf(BatcherClosedError);
  });

  test.each([
    { concurrency: 1, startedWhileFirstRuns: [1] },
    { concurrency: 2, startedWhileFirstRuns: [1, 1] },
  ])('concurrency $concurrency: batches computing at once', async ({ concurrency, startedWhileFirstRuns }) => {
    // Given a member whose calls finish only when the test says so
    const calls: Array<{ count: number; finish: () => void }> = [];
    const inner = new RecordingPredictor(0.2);
    const gated: Predictor = {
      kind: 'onnx',
      precision: 'fp32',
      imageSize: 28,
      reason: 'test',
      dispose: () => undefined,
      predict: (images, count) =>
        new Promise<void>((resolve) => calls.push({ count, finish: resolve })).then(() => inner.predict(images, count)),
    };
    const batcher = new DynamicBatcher([{ name: 'g', predictor: gated }], { windowMs: 0, concurrency });
    // When a request starts a batch and a second one arrives while it computes
    const first = batcher.submit({ images: image(1), count: 1, tta: false });
    await until(() => calls.length === 1);
    const second = batcher.submit({ images: image(2), count: 1, tta: false });
    // (a few turns of the event loop: time enough for a zero-window batch to start)
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 1));
    // Then the second batch starts at once only when two may compute together
    expect(calls.map((c) => c.count)).toEqual(startedWhileFirstRuns);
    calls[0]!.finish();
    await until(() => calls.length === 2);
    calls[1]!.finish();
    // and both answers are each request's own
    const expected = await Promise.all([1, 2].map((seed) => new RecordingPredictor(0.2).predict(image(seed), 1)));
    for (const [r, result] of (await Promise.all([first, second])).entries()) {
      for (let k = 0; k < 10; k++) expect(result.ensemble[k]).toBeCloseTo(expected[r]![k]!, 6);
      expect(result.batchRequests).toBe(1);
    }
    await batcher.close();
  });

  test('a backlog computed in process gives the event loop a turn between batches (a health check is not starved)', async () => {
    // Given a member that computes on this thread (as tfjs and --workers 0 do) and records its calls
    const events: string[] = [];
    const inner = new RecordingPredictor(0.2);
    const inProcess: Predictor = {
      kind: 'tfjs',
      precision: 'fp32',
      imageSize: 28,
      reason: 'test',
      dispose: () => undefined,
      predict: async (images, count) => {
        events.push('batch');
        // something else (an HTTP read, a /healthz) becomes ready while this batch computes
        if (events.length === 1) setImmediate(() => events.push('other work'));
        return inner.predict(images, count);
      },
    };
    const batcher = new DynamicBatcher([{ name: 'p', predictor: inProcess }], { maxBatch: 1, windowMs: 1000 });
    // When a backlog of three full batches waits
    const answers = [1, 2, 3].map((seed) => batcher.submit({ images: image(seed), count: 1, tta: false }));
    await Promise.all(answers);
    // Then the other work ran before the backlog was done, not after every batch
    expect(events).toEqual(['batch', 'other work', 'batch', 'batch']);
    await batcher.close();
  });

  /** A member whose calls finish only when the test says so (`calls[i].finish()`). */
  function gatedPredictor(): { calls: Array<{ count: number; finish: () => void }>; gated: Predictor } {
    const calls: Array<{ count: number; finish: () => void }> = [];
    const inner = new RecordingPredictor(0.2);
    const gated: Predictor = {
      kind: 'onnx',
      precision: 'fp32',
      imageSize: 28,
      reason: 'test',
      dispose: () => undefined,
      predict: (images, count) => new Promise<void>((resolve) => calls.push({ count, finish: resolve })).then(() => inner.predict(images, count)),
    };
    return { calls, gated };
  }

  test('a request whose client went away is dropped while it waits, and never computed', async () => {
    // Given a member whose calls finish only when the test says so, and a batch computing
    const { calls, gated } = gatedPredictor();
    const batcher = new DynamicBatcher([{ name: 'g', predictor: gated }], { windowMs: 0, maxBatch: 8 });
    const first = batcher.submit({ images: image(1), count: 1, tta: false });
    await until(() => calls.length === 1);
    // When two requests queue behind it and the client of one (3 images) hangs up
    const gone = new AbortController();
    const abandoned = batcher.submit({ images: new Float32Array(3 * 784), count: 3, tta: false, signal: gone.signal });
    const kept = batcher.submit({ images: image(2), count: 1, tta: false });
    expect(batcher.queued).toBe(4);
    gone.abort();
    // Then the abandoned request is rejected at once and leaves the queue
    await expect(abandoned).rejects.toBeInstanceOf(BatcherAbortedError);
    expect(batcher.queued).toBe(1);
    // and the next batch holds only the request still wanted
    calls[0]!.finish();
    await until(() => calls.length === 2);
    expect(calls.map((c) => c.count)).toEqual([1, 1]);
    calls[1]!.finish();
    await expect(Promise.all([first, kept])).resolves.toHaveLength(2);
    // and a signal already aborted is refused without queueing
    await expect(batcher.submit({ images: image(3), count: 1, tta: false, signal: AbortSignal.abort() })).rejects.toBeInstanceOf(BatcherAbortedError);
    await batcher.close();
  });

  test('dropQueued (shutdown after the grace period) rejects the waiting requests; close then waits only for the running batch', async () => {
    // Given a batch computing and three requests waiting behind it
    const { calls, gated } = gatedPredictor();
    const batcher = new DynamicBatcher([{ name: 'g', predictor: gated }], { windowMs: 0, maxBatch: 1 });
    const running = batcher.submit({ images: image(1), count: 1, tta: false });
    await until(() => calls.length === 1);
    const waiting = [2, 3, 4].map((seed) => batcher.submit({ images: image(seed), count: 1, tta: false }));
    // When the queue is dropped and the batcher closed
    expect(batcher.dropQueued()).toBe(3);
    const closed = batcher.close();
    for (const w of waiting) await expect(w).rejects.toBeInstanceOf(BatcherAbortedError);
    calls[0]!.finish();
    await closed;
    // Then only the running batch was computed
    await expect(running).resolves.toMatchObject({ batchImages: 1 });
    expect(calls).toHaveLength(1);
  });
});

/** Waits (polling the event loop, no clock) until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 1));
  expect(condition()).toBe(true);
}
