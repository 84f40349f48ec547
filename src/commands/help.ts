import { Args, Flags } from '@oclif/core';
import { DigitsCommand } from '../cli/base-command.js';
import DigitsHelp from '../cli/help-class.js';
import { commandCatalog } from '../cli/command-catalog.js';
import { jsonFlag } from '../cli/flags.js';

/**
 * `digits help [COMMAND…]`: oclif's help, and with --json the same as data (every command's
 * summary, description, examples, arguments and flags). It replaces @oclif/plugin-help's
 * command, which had no --json (`digits help --json` exited 2 with "Nonexistent flag").
 */
export default class HelpCommand extends DigitsCommand {
  static override summary = 'Show help for digits, a topic or a command; with --json, every command, its arguments and flags as data.';

  static override examples = ['<%= config.bin %> help run', '<%= config.bin %> help data', '<%= config.bin %> help --json'];

  static override strict = false;

  static override args = {
    command: Args.string({ description: 'The command or topic to show help for (words as typed: data practice).', required: false }),
  };

  static override flags = {
    ...jsonFlag,
    'nested-commands': Flags.boolean({ char: 'n', description: 'Include all nested commands in the output.', default: false }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(HelpCommand);
    const words = (argv as string[]).filter((w) => !w.startsWith('-'));
    if (flags.json) {
      this.printJson(commandCatalog(this.config, words));
      return;
    }
    if (words.length > 0) commandCatalog(this.config, words); // an unknown command or topic is a UserError naming the closest
    // oclif's showHelp takes the command's id (topics joined by ':'), whatever the topic separator the user types
    await new DigitsHelp(this.config, { all: flags['nested-commands'] }).showHelp(['help', ...(words.length > 0 ? [words.join(':')] : [])]);
  }
}
