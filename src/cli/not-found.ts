/**
 * oclif's `command_not_found` hook: a mistyped command is a user error like a mistyped flag.
 * It names the closest command ("did you mean `digits train`?"), prints in the one error
 * format (the JSON error line under --json, `error: … hint: …` on stderr otherwise) and exits
 * 2. It replaces @oclif/plugin-not-found, which offers its suggestion only as a yes/no prompt
 * on a terminal, says nothing of it in pipes and CI, prints no JSON and exits 127.
 */
import type { Hook } from '@oclif/core';
import { closestName } from './closest-name.js';
import { UserError, formatUserError } from '../errors.js';


const hook: Hook<'command_not_found'> = async function (options) {
  const bin = options.config.bin;
  // `digits --json` alone: the catalog of every command, as `digits help --json` (oclif took
  // the flag for a command's name). A hook's exit(0) does not stop oclif, so the process ends
  // once the line is written.
  if (options.id === '--json') {
    const { catalogResult } = await import('./command-catalog.js');
    await new Promise<void>((resolve) => process.stdout.write(`${JSON.stringify(catalogResult(options.config, []))}\n`, () => resolve()));
    process.exit(0);
  }
  const commands = options.config.commands.filter((c) => !c.hidden).map((c) => c.id.replaceAll(':', ' '));
  // With topics separated by spaces, oclif's id holds the words after the command too
  // ("data imprt comp" → data:imprt:comp): the longest leading words close to a command of
  // that many words are what was typed.
  const words = options.id.split(':');
  /** The error in the one format (the JSON error line under --json, `error: … hint: …` otherwise), exit 2. */
  const report = (error: UserError): void => {
    if (options.argv?.includes('--json')) process.stdout.write(`${JSON.stringify({ type: 'error', error: error.message, hint: error.hint ?? null, where: null })}\n`);
    else process.stderr.write(`${formatUserError(error)}\n`);
    this.exit(2);
  };
  // A whole command followed by words it does not take (`data inspect comp`: oclif reads it as the
  // command "data inspect comp"): name the argument, not the command, and the flag it may be meant for.
  for (let k = words.length - 1; k >= 1; k--) {
    const id = words.slice(0, k).join(':');
    const command = options.config.findCommand(id);
    if (!command || command.hidden) continue;
    const name = words.slice(0, k).join(' ');
    const extra = words.slice(k).join(' ');
    const flags = Object.keys(command.flags ?? {});
    const meant = ['data', 'run', 'file'].find((f) => flags.includes(f));
    report(
      new UserError(`\`${bin} ${name}\` takes no argument, and was given ${JSON.stringify(extra)}`, {
        hint: `${meant ? `did you mean \`${bin} ${name} --${meant} ${extra}\`? ` : ''}\`${bin} ${name} --help\` lists its flags.`,
      }),
    );
    return;
  }
  let typed = words.join(' ');
  let closest: string | undefined;
  for (let k = Math.min(words.length, Math.max(...commands.map((c) => c.split(' ').length))); k >= 1 && !closest; k--) {
    const attempt = words.slice(0, k).join(' ');
    closest = closestName(attempt, commands.filter((c) => c.split(' ').length === k));
    if (closest) typed = attempt;
  }
  report(
    new UserError(`${typed} is not a ${bin} command`, {
      hint: `${closest ? `did you mean \`${bin} ${closest}\`? ` : ''}\`${bin} help\` lists the commands.`,
    }),
  );
};

export default hook;
