import * as tf from '../../src/engine/tf.js';

/** A 28×28 model with a layer the ONNX exporter has no rule for (UpSampling2D, named "grow"). */
export function modelWithoutExportRule(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 2, kernelSize: 3, name: 'c' }),
      tf.layers.upSampling2d({ name: 'grow' }),
      tf.layers.flatten({ name: 'f' }),
      tf.layers.dense({ units: 10, activation: 'softmax', name: 'out' }),
    ],
  });
}
