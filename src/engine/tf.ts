/**
 * tfjs as digits uses it: the core ops, the layers API and the pure-JavaScript `cpu` backend.
 * Not the `@tensorflow/tfjs` bundle, which also loads the graph-model converter, tfjs-data and
 * the WebGL backend, none of which digits uses: 6.0 MB of JavaScript to compile before the WebGL
 * backend's, against these parts' 3.1 MB, in every process and worker thread that builds or
 * loads a model (measured in README, "Dependencies and why"). Everything imports tfjs from here.
 *
 * The parts are CommonJS bundles, loaded here with `require`, not `import`: Node's ES module
 * loader first scans the whole source of a CommonJS module it imports for its export names
 * (cjs-module-lexer), and for these bundles' 3.1 MB that scan cost more than the loading. So
 * this module names what digits uses; a tfjs function or type not named below is added here
 * (the type check says which).
 */
import { createRequire } from 'node:module';
import type * as Core from '@tensorflow/tfjs-core';
import type * as Layers from '@tensorflow/tfjs-layers';

const load = createRequire(import.meta.url);
const core = load('@tensorflow/tfjs-core') as typeof Core;
const layersApi = load('@tensorflow/tfjs-layers') as typeof Layers;
// (registers the cpu backend and its kernels)
load('@tensorflow/tfjs-backend-cpu');

/** The wasm backend, loaded (and registered with tfjs) on the first call, by `require` as above. */
export function wasmBackend(): typeof import('@tensorflow/tfjs-backend-wasm') {
  return load('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
}

/** The versions in use, as `@tensorflow/tfjs` names them (`tfjs` is the core's, as in that bundle). */
export const version = { tfjs: core.version_core, 'tfjs-core': core.version_core, 'tfjs-layers': layersApi.version_layers } as const;

// The engine, backends and kernels
export const { backend, backend_util, customGrad, dispose, engine, env, getBackend, getKernel, grads, memory, profile, ready, registerKernel, setBackend, tidy, unregisterKernel, util } = core;
// Tensors and ops
export const { add, argMax, batchNorm, cast, clipByValue, clone, concat, conv2d, div, gather, image, log, matMul, max, maximum, mean, moments, mul, neg, oneHot, ones, pad, randomUniform, split, sqrt, sub, sum, tensor, tensor1d, tensor2d, tensor4d, tile, topk, transpose, zeros, zerosLike } = core;
// Saving, loading, training
export const { io, serialization, train } = core;
// The layers API
export const { initializers, layers, loadLayersModel, regularizers, sequential } = layersApi;

// Classes: the value (for `new`, `instanceof`, `extends`) and the type of the same name
export const Tensor = core.Tensor;
export type Tensor<R extends Core.Rank = Core.Rank> = Core.Tensor<R>;
export const Optimizer = core.Optimizer;
export type Optimizer = Core.Optimizer;
export const LayerVariable = layersApi.LayerVariable;
export type LayerVariable = Layers.LayerVariable;
export const LayersModel = layersApi.LayersModel;
export type LayersModel = Layers.LayersModel;
export const Sequential = layersApi.Sequential;
export type Sequential = Layers.Sequential;

// Types
export type { KernelConfig, KernelFunc, Rank, Tensor1D, Tensor2D, Tensor4D, TensorInfo } from '@tensorflow/tfjs-core';
export type { Shape } from '@tensorflow/tfjs-layers';
/** A layer (`tf.layers.Layer`: `layers` is a value here, so its types are named at the top). */
export type Layer = Layers.layers.Layer;
export type ModelJSON = Core.io.ModelJSON;
export type ModelArtifacts = Core.io.ModelArtifacts;
export type IOHandler = Core.io.IOHandler;
export type WeightsManifestEntry = Core.io.WeightsManifestEntry;
export type Serializable = Core.serialization.Serializable;
export type SerializableConstructor<T extends Serializable> = Core.serialization.SerializableConstructor<T>;
