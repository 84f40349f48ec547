/** The one ONNX graph builder: fresh names, shared constants, and bytes ONNX Runtime runs. */
import { describe, expect, test } from 'vitest';
import { decodeModel, dimsOf, floatsOf, OnnxGraph } from '../../src/engine/onnx-graph.js';
import { loadOnnxRuntime } from '../../src/engine/ort.js';

describe('OnnxGraph', () => {
  test('hands out fresh names and shares equal constants', () => {
    const g = new OnnxGraph();
    g.reserve('probabilities');
    expect([g.fresh('conv/W'), g.fresh('conv/W'), g.fresh('conv/W'), g.fresh('probabilities')]).toEqual(['conv/W', 'conv/W_1', 'conv/W_2', 'probabilities_1']);
    expect(g.scalar(0.5)).toBe(g.scalar(0.5));
    expect(g.ints([1, 2])).toBe(g.ints([1, 2]));
    expect(g.ints([1, 2])).not.toBe(g.ints([2, 1]));
    expect(() => g.named('conv/W', 'Identity', ['x'])).toThrow(/already used/);
  });

  test('encodes a graph that decodes to the same nodes and initializers, and runs', async () => {
    // Given y = relu(x·2 − 1) reshaped, built with the helpers
    const g = new OnnxGraph();
    g.input('x', ['N', 4]);
    const scaled = g.sub(g.mul('x', g.scalar(2)), g.scalar(1));
    g.named('y', 'Relu', [g.reshape(scaled, [-1, 2, 2])]);
    g.output('y', ['N', 2, 2]);
    const bytes = g.encode({ name: 'tiny' });
    // When decoding it
    const model = decodeModel(bytes);
    // Then nodes, names and initializers are as built
    expect(model.graph.node.map((n) => `${n.opType}:${n.output[0]}`)).toEqual(['Mul:mul', 'Sub:sub', 'Reshape:reshape', 'Relu:y']);
    const two = model.graph.initializer.find((t) => t.name === model.graph.node[0]!.input[1])!;
    expect(Array.from(floatsOf(two))).toEqual([2]);
    expect(dimsOf(two)).toEqual([]);
    // And ONNX Runtime computes it
    const ort = loadOnnxRuntime();
    if (!ort) return;
    const session = await ort.InferenceSession.create(bytes);
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([0, 0.25, 0.75, 2]), [1, 4]) });
    expect(Array.from(out.y!.data as Float32Array)).toEqual([0, 0, 0.5, 3]);
    expect(out.y!.dims).toEqual([1, 2, 2]);
    await session.release();
  });
});
