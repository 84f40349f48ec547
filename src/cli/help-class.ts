import { Help } from '@oclif/core';
import { catalogResult } from './command-catalog.js';
import { notFoundError, reportNotFound } from './not-found.js';

/**
 * oclif's help, except that the `help` command asks for its own: oclif reads `help` in the
 * words as "show help", so `digits help -h`, `digits help --help` and `digits help help`
 * printed the root help instead of the help command's usage and its `--json` flag.
 * Registered as `oclif.helpClass` (used for `-h`/`--help` on any command) and used by
 * `digits help` with the words after it prefixed by `help` (`help help` asks for this command).
 */
export default class DigitsHelp extends Help {
  override async showHelp(argv: string[]): Promise<void> {
    const words = argv.filter((w) => !w.startsWith('-'));
    // A mistyped command with --help (`digits trian --help`, `digits data improt --help`): the
    // error a mistyped command gets without it, with its "did you mean" (oclif printed its raw
    // "Command trian not found", and with --json the topic's catalog, exit 0).
    // The subject is the words before the first flag, as oclif reads a command's id (the words
    // after a flag are its values); it is known when it is a topic, or a command followed only by
    // arguments it takes (`runs compar a b --help` is no `runs` with arguments: `runs` takes none).
    const firstFlag = argv.findIndex((w) => w.startsWith('-'));
    const subject = firstFlag === -1 ? argv : argv.slice(0, firstFlag);
    const longest = subject.map((_, k) => subject.length - k).find((n) => this.config.findCommand(subject.slice(0, n).join(':')));
    const command = longest ? this.config.findCommand(subject.slice(0, longest).join(':')) : undefined;
    const known = this.config.findTopic(subject.join(':')) !== undefined || (command !== undefined && (longest === subject.length || Object.keys(command.args ?? {}).length > 0));
    if (subject.length > 0 && subject[0] !== 'help' && !known) {
      reportNotFound(notFoundError(this.config, subject.join(':')), process.argv.slice(2).includes('--json'));
      process.exitCode = 2;
      return;
    }
    // A topic typed with --json (`digits data --json`): oclif shows the topic's help and drops
    // the words after it (so the flag is read from the process's own argv); under the NDJSON
    // contract that is the topic's catalog, as `digits help data --json` prints it.
    if (words.length === 1 && words[0] !== 'help' && process.argv.slice(2).includes('--json') && this.config.findTopic(words[0]!) && !this.config.findCommand(words[0]!)) {
      process.stdout.write(`${JSON.stringify(catalogResult(this.config, words))}\n`);
      return;
    }
    // `<command> --help --json` (or `-h`): under the NDJSON contract, the command's catalog, as
    // `digits help <command> --json` prints it (it printed the text help). argv holds flag values
    // too (`train --data comp --help`): the command is the longest run of leading words naming one.
    const typed = process.argv.slice(2);
    if (typed.includes('--json') && (typed.includes('--help') || typed.includes('-h')) && !words.includes('help')) {
      let id: string[] = [];
      for (let k = words.length; k > 0 && id.length === 0; k--) if (this.config.findCommand(words.slice(0, k).join(':'))) id = words.slice(0, k);
      if (id.length === 0 && words[0] !== undefined && this.config.findTopic(words[0])) id = [words[0]];
      process.stdout.write(`${JSON.stringify(catalogResult(this.config, id))}\n`);
      return;
    }
    const asked = words.length > 0 && words.every((w) => w === 'help') && (words.length > 1 || argv.includes('-h') || argv.includes('--help'));
    if (asked) {
      const command = this.config.findCommand('help');
      if (command) return this.showCommandHelp(command);
    }
    return super.showHelp(argv);
  }
}

