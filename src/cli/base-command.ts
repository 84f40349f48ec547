import { Command, Errors } from '@oclif/core';
import { UserError, formatUserError } from '../errors.js';

/**
 * Base of every command: one place that prints errors (UserError: what/where/hint,
 * exit code ≠ 0; anything else: a bug with its stack) and knows whether output is
 * for a person (TTY) or a machine (--json, CI=true, pipes).
 */
export abstract class DigitsCommand extends Command {
  /** True when results should be plain lines or JSON, not an interactive Ink view. */
  protected get plainOutput(): boolean {
    return !process.stderr.isTTY || process.env.CI === 'true' || this.argv.includes('--json');
  }

  protected printJson(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  protected override async catch(error: Error & { exitCode?: number }): Promise<unknown> {
    if (error instanceof UserError) {
      process.stderr.write(`${formatUserError(error)}\n`);
      this.exit(error.exitCode);
    }
    if (error instanceof Errors.CLIError || (error as { oclif?: unknown }).oclif) {
      // oclif's own parse errors (unknown flag, bad option) already say what and where.
      return super.catch(error);
    }
    process.stderr.write(`internal error (a bug in digits, please report it): ${error.stack ?? error.message}\n`);
    this.exit(70);
  }
}
