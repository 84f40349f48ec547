/** The training rules by tfjs class name: add a layer class here (with a case in test/onnx/training-graph.test.ts). */
import { bindRule, type BoundRule } from '../rule.js';
import { batchNormRule } from './batch-norm.js';
import { conv2dRule } from './conv2d.js';
import { denseRule } from './dense.js';
import { dropoutRule } from './dropout.js';
import { flattenRule } from './flatten.js';
import { reluRule } from './relu.js';
import { softmaxRule } from './softmax.js';

const rules: BoundRule[] = [
  bindRule(conv2dRule),
  bindRule(batchNormRule),
  bindRule(reluRule),
  bindRule(dropoutRule),
  bindRule(flattenRule),
  bindRule(denseRule),
  bindRule(softmaxRule),
];

export const TRAINING_RULES: ReadonlyMap<string, BoundRule> = new Map(rules.flatMap((rule) => rule.classes.map((c) => [c, rule] as const)));
