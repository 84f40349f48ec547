import { Args, Flags } from '@oclif/core';
import path from 'node:path';
import { DigitsCommand } from '../../cli/base-command.js';
import { backendFlag, jsonFlag, seedFlag } from '../../cli/flags.js';
import type { BackendRequest } from '../../engine/backend.js';
import { UserError, fromSystemError } from '../../errors.js';
import { displayPath, shellArg } from '../../data/format.js';

export default class ExportOnnx extends DigitsCommand {
  static override summary = 'Export a checkpoint to ONNX (model.onnx beside it) and check it against tfjs.';

  static override description = `Writes <checkpoint>/model.onnx (opset 18; input "images" [N,28,28,1] raw pixels in [0,1], the checkpoint's preprocessing inside the graph; output "probabilities" [N,10]) and onnx.json, which records the checkpoint files it was made from: an export that is up to date is reused. Then runs the checkpoint on tfjs and on ONNX Runtime over the same random images and reports the largest probability difference and how many predictions agree.`;

  static override examples = [
    '<%= config.bin %> export onnx checkpoints/mnist-clean/seed002',
    '<%= config.bin %> export onnx runs/quick-20261121-101500/seed002-1/best --json',
    '<%= config.bin %> export onnx my-checkpoint --force --images 256',
  ];

  static override args = {
    checkpoint: Args.string({ description: 'Checkpoint folder (model.json, weights.bin, metadata.json)', required: true }),
  };

  static override flags = {
    ...jsonFlag,
    ...backendFlag,
    ...seedFlag,
    force: Flags.boolean({ description: 'Export again even when model.onnx is up to date.', default: false }),
    check: Flags.boolean({ description: 'Compare ONNX Runtime with tfjs on random images (--no-check skips it).', default: true, allowNo: true }),
    images: Flags.integer({ description: 'Random images for the parity check.', default: 64, min: 1 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ExportOnnx);
    // tfjs and ONNX Runtime load here, not when oclif reads the command (help, manifest).
    const [{ initEngine }, { exportCheckpointToOnnx }, { checkOnnxParity }, { resolveCheckpointArg }] = await Promise.all([
      import('../../engine/backend.js'),
      import('../../onnx/export.js'),
      import('../../inference/predictor.js'),
      import('../../model/shipped.js'),
    ]);
    const dir = await resolveCheckpointArg(args.checkpoint);
    // The reference runs tfjs's own kernels (no ONNX Runtime convolutions), so the check compares two implementations.
    await initEngine({ backend: flags.backend as BackendRequest, ortKernels: false });
    const result = await exportCheckpointToOnnx(dir, { force: flags.force }).catch((error: unknown) => {
      // The export goes beside the weights, and there is no other place to give it: a folder
      // the user may not write (a shipped checkpoint in a read-only install) is put right by
      // exporting a copy ("point the command at another one" said until session 49).
      const system = fromSystemError(error);
      if (!system || !/permission denied|not permitted|read-only/.test(system.message)) throw error;
      throw new UserError(system.message, {
        where: system.where,
        hint: `The export is written beside the checkpoint's weights: copy the checkpoint to a folder you can write (\`cp -r ${shellArg(displayPath(dir))} my-checkpoint\`) and export the copy (\`digits export onnx my-checkpoint\`).`,
      });
    });
    const parity = flags.check ? await checkOnnxParity(dir, { images: flags.images, seed: flags.seed }) : null;
    if (this.jsonEnabled()) {
      this.printJson({ ...result, parity });
    } else {
      const status = result.exported ? 'exported' : 'up to date (checkpoint unchanged; --force re-exports)';
      const lines = [`${result.path}: ${(result.bytes / 1e6).toFixed(2)} MB, opset ${result.opset}, ${status}`];
      if (parity) {
        const verdict = parity.ok ? 'ok' : `MISMATCH (tolerance ${parity.tolerance})`;
        lines.push(`parity of ${path.basename(result.path)} (fp32) on ${parity.images} random images: max |p_onnx − p_tfjs| ${parity.maxAbsDiff.toExponential(2)}, argmax agrees on ${parity.argmaxAgreement}/${parity.images}: ${verdict}`);
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    if (parity && !parity.ok) {
      process.stderr.write('error: the ONNX export does not reproduce the tfjs model (a bug in digits, please report it)\n');
      process.exitCode = 1;
    }
  }
}
