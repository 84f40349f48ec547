/**
 * oclif's `command_not_found` hook: a mistyped command is a user error like a mistyped flag.
 * It names the closest command ("did you mean `digits train`?"), prints in the one error
 * format (the JSON error line under --json, `error: … hint: …` on stderr otherwise) and exits
 * 2. It replaces @oclif/plugin-not-found, which offers its suggestion only as a yes/no prompt
 * on a terminal, says nothing of it in pipes and CI, prints no JSON and exits 127.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Hook, Interfaces } from '@oclif/core';
import { closestName } from '../closest-name.js';
import { UserError, formatUserError } from '../errors.js';


/**
 * What was mistyped in `id` (oclif's id: the words joined by `:`), as a UserError with the
 * closest command, topic or flag it may have meant. Shared by the hook and the help class
 * (`digits trian --help` printed oclif's raw "Command trian not found").
 */
export function notFoundError(config: Interfaces.Config, id: string): UserError {
  const bin = config.bin;
  const commands = config.commands.filter((c) => !c.hidden).map((c) => c.id.replaceAll(':', ' '));
  // Topics are what a first word may name too (`dta` → `data`, which is no command by itself).
  const topics = config.topics.filter((t) => !t.hidden && !t.name.includes(':')).map((t) => t.name);
  // With topics separated by spaces, oclif's id holds the words after the command too
  // ("data imprt comp" → data:imprt:comp): the longest leading words close to a command of
  // that many words are what was typed.
  const words = id.split(':');
  // A whole command followed by words it does not take (`data inspect comp`: oclif reads it as the
  // command "data inspect comp"): name the argument, not the command, and the flag it may be meant for;
  // or the command below it that was mistyped (`runs compar a b` → `runs compare`).
  for (let k = words.length - 1; k >= 1; k--) {
    const command = config.findCommand(words.slice(0, k).join(':'));
    if (!command || command.hidden) continue;
    const name = words.slice(0, k).join(' ');
    const extra = words.slice(k).join(' ');
    const below = commands.filter((c) => c.startsWith(`${name} `) && c.split(' ').length === k + 1).map((c) => c.split(' ')[k]!);
    const sub = closestName(words[k]!, below);
    if (sub) return new UserError(`${name} ${words[k]} is not a ${bin} command`, { hint: `did you mean \`${bin} ${name} ${sub}${words.length > k + 1 ? ` ${words.slice(k + 1).join(' ')}` : ''}\`? \`${bin} help ${name}\` lists its commands.` });
    const meant = meantFlag(command, extra);
    return new UserError(`\`${bin} ${name}\` takes no argument, and was given ${JSON.stringify(extra)}`, {
      hint: `${meant ? `did you mean \`${bin} ${name} --${meant} ${extra}\`? ` : ''}\`${bin} ${name} --help\` lists its flags.`,
    });
  }
  // `digits version`, `digits --verison`: the flag.
  if (words.length === 1 && closestName(words[0]!.replace(/^-+/, ''), ['version']) !== undefined) {
    return new UserError(`${words[0]} is not a ${bin} command`, { hint: `did you mean \`${bin} --version\`? \`${bin} help\` lists the commands.` });
  }
  let typed = words.join(' ');
  let closest: string | undefined;
  for (let k = Math.min(words.length, Math.max(...commands.map((c) => c.split(' ').length))); k >= 1 && !closest; k--) {
    const attempt = words.slice(0, k).join(' ');
    closest = closestName(attempt, [...commands.filter((c) => c.split(' ').length === k), ...(k === 1 ? topics : [])]);
    if (closest) typed = attempt;
  }
  // A topic typed right and the command under it wrong beyond a guess (`data im`): the command is
  // what is mistyped (it read "data is not a digits command; did you mean `digits data im`?").
  if (closest === words[0] && typed === words[0] && words.length > 1 && topics.includes(words[0]!)) {
    // …unless it begins exactly one of them (`data prac`): that one is meant (until session 48 only the topic's help was named)
    const under = commands.filter((c) => c.startsWith(`${words[0]} `) && c.split(' ').length === 2).map((c) => c.split(' ')[1]!);
    const begun = under.filter((c) => c.startsWith(words[1]!));
    const meant = begun.length === 1 ? `did you mean \`${bin} ${words[0]} ${begun[0]}${withRest(config, `${words[0]} ${begun[0]}`, words.slice(2))}\`? ` : '';
    return new UserError(`${words[0]} ${words[1]} is not a ${bin} command`, { hint: `${meant}\`${bin} help ${words[0]}\` lists the ${words[0]} commands.` });
  }
  return new UserError(`${typed} is not a ${bin} command`, {
    hint: `${closest ? `did you mean \`${bin} ${closest}${withRest(config, closest, words.slice(typed.split(' ').length))}\`? ` : ''}\`${bin} help\` lists the commands.`,
  });
}

/**
 * The words typed after a mistyped command, as the suggested one would take them: as its
 * arguments when it has any, else after the flag they are likely meant for (`evalute runs/x` →
 * `evaluate --run runs/x`: `evaluate runs/x` fails again), else left out.
 */
function withRest(config: Interfaces.Config, suggested: string, rest: string[]): string {
  if (rest.length === 0) return '';
  const command = config.findCommand(suggested.replaceAll(' ', ':'));
  if (!command) return ` ${rest.join(' ')}`;
  if (Object.keys(command.args ?? {}).length > 0) return ` ${rest.join(' ')}`;
  const meant = meantFlag(command, rest.join(' '));
  return meant && rest.length === 1 ? ` --${meant} ${rest[0]}` : '';
}

/** The flag a path given as an argument is likely meant for: --run for a run folder (or a path under runs/), else --data, else --file. */
function meantFlag(command: { flags?: Record<string, unknown> }, word: string): string | undefined {
  const flags = Object.keys(command.flags ?? {});
  const runLike = existsSync(path.join(word, 'run.json')) || /(^|\/)runs\//.test(word);
  return (runLike && flags.includes('run') ? 'run' : undefined) ?? ['data', 'run', 'file'].find((f) => flags.includes(f));
}

/** The error in the one format: the JSON error line under --json, `error: … hint: …` on stderr otherwise. */
export function reportNotFound(error: UserError, json: boolean): void {
  if (json) process.stdout.write(`${JSON.stringify({ type: 'error', error: error.message, hint: error.hint ?? null, where: null })}\n`);
  else process.stderr.write(`${formatUserError(error)}\n`);
}

const hook: Hook<'command_not_found'> = async function (options) {
  // `digits --json` alone: the catalog of every command, as `digits help --json` (oclif took
  // the flag for a command's name). A hook's exit(0) does not stop oclif, so the process ends
  // once the line is written.
  if (options.id === '--json') {
    const { catalogResult } = await import('./command-catalog.js');
    await new Promise<void>((resolve) => process.stdout.write(`${JSON.stringify(catalogResult(options.config, []))}\n`, () => resolve()));
    process.exit(0);
  }
  reportNotFound(notFoundError(options.config, options.id), Boolean(options.argv?.includes('--json')));
  this.exit(2);
};

export default hook;
