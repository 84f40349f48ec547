/**
 * Batch normalisation in training, as one fused kernel each way.
 *
 * tfjs-layers trains BatchNormalization as `moments` + `batchNorm`, and the gradient of
 * `FusedBatchNorm` in tfjs-core tiles the per-channel factors to the full input shape
 * before multiplying (gradients/FusedBatchNorm_grad.ts). On wasm that `Tile` alone was
 * the largest kernel of a seed002 training step (335 of 716 ms in `tf.profile`). Here
 * the forward pass is two sweeps (per-channel sums, then the affine map) and the
 * backward pass two more, over the tensor in wasm memory (or the cpu backend's arrays).
 *
 * The layer keeps the class name `BatchNormalization` and the same weights and config,
 * so saved models load unchanged in tfjs-node and the browser; only `call` in training
 * mode on the wasm/cpu backends takes the fused path. On tfjs-node (libtensorflow) the
 * stock path is already native and is kept.
 */
import * as tf from './tf.js';

export const BN_TRAIN = 'DigitsBatchNormTrain';
export const BN_TRAIN_GRAD = 'DigitsBatchNormTrainGrad';

type Info = tf.TensorInfo;

interface Storage {
  /** Float32 views of inputs and a way to make outputs, per backend. */
  read(info: Info): Float32Array;
  make(shape: number[]): { info: Info; data: () => Float32Array };
}

function wasmStorage(backend: unknown): Storage {
  const b = backend as {
    dataIdMap: { get(id: object): { memoryOffset: number } };
    wasm: { HEAPF32: Float32Array };
    makeOutput(shape: number[], dtype: string): Info;
  };
  const viewOf = (info: Info) => {
    const off = b.dataIdMap.get(info.dataId).memoryOffset / 4;
    return b.wasm.HEAPF32.subarray(off, off + tf.util.sizeFromShape(info.shape));
  };
  return {
    read: viewOf,
    make(shape) {
      const info = b.makeOutput(shape, 'float32');
      return { info, data: () => viewOf(info) };
    },
  };
}

function cpuStorage(backend: unknown): Storage {
  const b = backend as {
    data: { get(id: object): { values: Float32Array } };
    makeTensorInfo(shape: number[], dtype: string, values: Float32Array): Info;
  };
  return {
    read: (info) => b.data.get(info.dataId).values,
    make(shape) {
      const values = new Float32Array(tf.util.sizeFromShape(shape));
      const info = b.makeTensorInfo(shape, 'float32', values);
      return { info, data: () => values };
    },
  };
}

/** Forward: y = (x − mean)·γ/√(var+ε) + β over the last axis; also returns mean and var. */
function forward(store: Storage, x: Info, gamma: Info, beta: Info, epsilon: number): Info[] {
  const c = x.shape[x.shape.length - 1]!;
  const n = tf.util.sizeFromShape(x.shape) / c;
  const sum = new Float64Array(c);
  const sumSq = new Float64Array(c);
  let xs = store.read(x);
  for (let i = 0, p = 0; i < n; i++) {
    for (let k = 0; k < c; k++, p++) {
      const v = xs[p]!;
      sum[k] += v;
      sumSq[k] += v * v;
    }
  }
  const mean = store.make([c]);
  const variance = store.make([c]);
  const y = store.make(x.shape);
  // Outputs may have grown memory: fetch every view after all allocations.
  xs = store.read(x);
  const g = store.read(gamma);
  const bt = store.read(beta);
  const m = mean.data();
  const vr = variance.data();
  const ys = y.data();
  const a = new Float32Array(c);
  const b = new Float32Array(c);
  for (let k = 0; k < c; k++) {
    const mu = sum[k]! / n;
    const v = Math.max(0, sumSq[k]! / n - mu * mu);
    m[k] = mu;
    vr[k] = v;
    const r = 1 / Math.sqrt(v + epsilon);
    a[k] = g[k]! * r;
    b[k] = bt[k]! - mu * a[k]!;
  }
  for (let i = 0, p = 0; i < n; i++) {
    for (let k = 0; k < c; k++, p++) ys[p] = xs[p]! * a[k]! + b[k]!;
  }
  return [y.info, mean.info, variance.info];
}

/**
 * Backward, with mean and variance depending on x (training mode):
 * dx = γr·dy − γr·Σdy/N − γr²(x−μ)·Σ(dy·x̂)/N, dγ = Σ dy·x̂, dβ = Σ dy.
 */
function backward(store: Storage, dy: Info, x: Info, gamma: Info, mean: Info, variance: Info, epsilon: number): Info[] {
  const c = x.shape[x.shape.length - 1]!;
  const n = tf.util.sizeFromShape(x.shape) / c;
  const sDy = new Float64Array(c);
  const sDyX = new Float64Array(c);
  let dys = store.read(dy);
  let xs = store.read(x);
  for (let i = 0, p = 0; i < n; i++) {
    for (let k = 0; k < c; k++, p++) {
      const d = dys[p]!;
      sDy[k] += d;
      sDyX[k] += d * xs[p]!;
    }
  }
  const dx = store.make(x.shape);
  const dGamma = store.make([c]);
  const dBeta = store.make([c]);
  dys = store.read(dy);
  xs = store.read(x);
  const g = store.read(gamma);
  const m = store.read(mean);
  const vr = store.read(variance);
  const dg = dGamma.data();
  const db = dBeta.data();
  const out = dx.data();
  const k1 = new Float32Array(c);
  const k2 = new Float32Array(c);
  const k3 = new Float32Array(c);
  for (let k = 0; k < c; k++) {
    const r = 1 / Math.sqrt(vr[k]! + epsilon);
    const mu = m[k]!;
    const sumDyXhat = r * (sDyX[k]! - mu * sDy[k]!);
    dg[k] = sumDyXhat;
    db[k] = sDy[k]!;
    const gr = g[k]! * r;
    k1[k] = gr;
    k2[k] = (-gr * r * sumDyXhat) / n;
    k3[k] = (-gr * sDy[k]!) / n - k2[k]! * mu;
  }
  for (let i = 0, p = 0; i < n; i++) {
    for (let k = 0; k < c; k++, p++) out[p] = k1[k]! * dys[p]! + k2[k]! * xs[p]! + k3[k]!;
  }
  return [dx.info, dGamma.info, dBeta.info];
}

const STORAGE: Record<string, (backend: unknown) => Storage> = { wasm: wasmStorage, cpu: cpuStorage };

let registered = false;
/** Registers the fused kernels for the backends whose memory we can address (wasm, cpu). */
export function registerBatchNormKernels(): void {
  if (registered) return;
  for (const [backendName, storage] of Object.entries(STORAGE)) {
    tf.registerKernel({
      kernelName: BN_TRAIN,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) =>
        forward(storage(backend), inputs.x!, inputs.gamma!, inputs.beta!, (attrs as { epsilon: number }).epsilon),
    });
    tf.registerKernel({
      kernelName: BN_TRAIN_GRAD,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) =>
        backward(
          storage(backend),
          inputs.dy!,
          inputs.x!,
          inputs.gamma!,
          inputs.mean!,
          inputs.variance!,
          (attrs as { epsilon: number }).epsilon,
        ),
    });
  }
  registered = true;
}

/** True when the active backend has the fused kernels. */
export function fusedBatchNormAvailable(): boolean {
  return registered && tf.getBackend() in STORAGE;
}

/**
 * Training-mode batch normalisation over the last axis, differentiable with respect to
 * x, γ and β. Returns the normalised tensor and the batch mean and variance (for the
 * moving averages).
 */
export function batchNormTraining(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  // The forward kernel runs outside customGrad: tensors made inside it other than the
  // value are disposed when its scope ends, and we need mean/variance for the moving
  // averages. The kernel has no gradient of its own; the customGrad node below carries it.
  const [y, mean, variance] = tf.engine().runKernel(BN_TRAIN, { x, gamma, beta }, { epsilon }) as tf.Tensor[];
  const f = tf.customGrad((xIn, gammaIn, _betaIn, save) => {
    (save as (t: tf.Tensor[]) => void)([xIn as tf.Tensor, gammaIn as tf.Tensor, mean!, variance!]);
    return {
      value: y!.clone(),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sg, sm, sv] = saved;
        return tf.engine().runKernel(BN_TRAIN_GRAD, { dy, x: sx!, gamma: sg!, mean: sm!, variance: sv! }, { epsilon }) as tf.Tensor[];
      },
    };
  });
  const out = (f as unknown as (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.Tensor)(x, gamma, beta);
  y!.dispose();
  return { y: out, mean: mean!, variance: variance! };
}

/* ---------- the layer ---------- */

type BNLayer = tf.Layer & {
  axis: number;
  epsilon: number;
  momentum: number;
  center: boolean;
  scale: boolean;
  gamma: tf.LayerVariable | null;
  beta: tf.LayerVariable | null;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
};

// tfjs does not export the class itself; its constructor is reachable from an instance.
const StockBatchNormalization = tf.layers.batchNormalization({}).constructor as unknown as new (args: object) => BNLayer;

/**
 * BatchNormalization with the fused training path. Same class name and config as
 * tfjs-layers' own, so checkpoints are interchangeable.
 */
export class BatchNormalization extends (StockBatchNormalization as unknown as new (args: object) => tf.Layer) {
  static className = 'BatchNormalization';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    const self = this as unknown as BNLayer;
    const input = Array.isArray(inputs) ? inputs[0]! : inputs;
    const axis = self.axis >= 0 ? self.axis : self.axis + input.rank;
    const training = kwargs.training === true;
    if (!training || axis !== input.rank - 1 || !self.center || !self.scale || !fusedBatchNormAvailable()) {
      return super.call(inputs, kwargs);
    }
    return tf.tidy(() => {
      const { y, mean, variance } = batchNormTraining(input, self.gamma!.read(), self.beta!.read(), self.epsilon);
      const decay = 1 - self.momentum;
      for (const [variable, value] of [
        [self.movingMean, mean],
        [self.movingVariance, variance],
      ] as const) {
        const old = variable.read();
        variable.write(tf.sub(old, tf.mul(tf.sub(old, value), decay)));
      }
      return y;
    });
  }
}

let layerRegistered = false;
/** Makes `tf.loadLayersModel` build our BatchNormalization for saved `BatchNormalization` layers. */
export function registerBatchNormLayer(): void {
  if (layerRegistered) return;
  tf.serialization.registerClass(BatchNormalization as unknown as tf.SerializableConstructor<tf.Serializable>);
  layerRegistered = true;
}

export function batchNormalization(args: Parameters<typeof tf.layers.batchNormalization>[0] = {}): tf.Layer {
  return new BatchNormalization(args);
}
