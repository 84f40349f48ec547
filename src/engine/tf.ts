/**
 * tfjs as digits uses it: the core ops, the layers API and the pure-JavaScript `cpu` backend.
 * Not the `@tensorflow/tfjs` bundle, which also loads the graph-model converter, tfjs-data and
 * the WebGL backend, none of which digits uses: 6.0 MB of JavaScript to compile before the WebGL
 * backend's, against these parts' 3.1 MB, in every process and worker thread that builds or
 * loads a model (measured in README, "Dependencies and why"). Everything imports tfjs from here.
 */
import { version_core } from '@tensorflow/tfjs-core';
import { version_layers } from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';

export * from '@tensorflow/tfjs-core';
export * from '@tensorflow/tfjs-layers';

/** The versions in use, as `@tensorflow/tfjs` names them (`tfjs` is the core's, as in that bundle). */
export const version = { tfjs: version_core, 'tfjs-core': version_core, 'tfjs-layers': version_layers } as const;
