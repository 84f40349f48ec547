import { Flags } from '@oclif/core';
import { DigitsCommand } from '../cli/base-command.js';
import { backendFlag, jsonFlag } from '../cli/flags.js';
import type { BackendRequest } from '../engine/backend.js';

export default class Doctor extends DigitsCommand {
  static override summary = 'Show the compute backend, why others were skipped, and a 2-second benchmark.';
  static override examples = ['<%= config.bin %> doctor', '<%= config.bin %> doctor --backend cpu --json', 'DIGITS_BACKEND=wasm <%= config.bin %> doctor'];
  static override flags = {
    ...backendFlag,
    ...jsonFlag,
    seconds: Flags.integer({ description: 'Length of the micro-benchmark in seconds (0 skips it).', default: 2, min: 0 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Doctor);
    const { formatDoctor, runDoctor } = await import('../services/doctor.js');
    const report = await runDoctor({ backend: flags.backend as BackendRequest, benchmarkSeconds: flags.seconds });
    if (this.jsonEnabled()) this.printJson(report);
    else process.stdout.write(`${formatDoctor(report)}\n`);
  }
}
