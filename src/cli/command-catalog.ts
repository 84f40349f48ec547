/**
 * The commands of the CLI as data, for `digits help --json`: what `digits help` prints, in a
 * form a program can read (a launcher, an editor's completion, a wrapper that builds flags).
 * Built from oclif's command manifest (`config.commands`), so no command module is loaded.
 */
import type { Command, Interfaces } from '@oclif/core';
import { UserError } from '../errors.js';
import { asResult } from './base-command.js';
import { closestName } from '../closest-name.js';

export interface CatalogFlag {
  name: string;
  char?: string;
  /** `boolean` (a switch, `--no-x` when `allowNo`) or `option` (takes a value) */
  type: 'boolean' | 'option';
  description?: string;
  required: boolean;
  multiple: boolean;
  default?: unknown;
  options?: readonly string[];
  /** environment variable read when the flag is not given */
  env?: string;
  allowNo?: boolean;
}

export interface CatalogArg {
  name: string;
  description?: string;
  required: boolean;
}

export interface CatalogCommand {
  /** as typed: words separated by spaces (`data practice`) */
  id: string;
  summary?: string;
  description?: string;
  examples: string[];
  args: CatalogArg[];
  flags: CatalogFlag[];
}

export interface CommandCatalog {
  bin: string;
  version: string;
  /** topics (command groups) under the words asked for, with their descriptions */
  topics: Array<{ name: string; description?: string }>;
  commands: CatalogCommand[];
}

const spaced = (id: string) => id.replaceAll(':', ' ');

function describeCommand(command: Command.Loadable, bin: string): CatalogCommand {
  const examples = (command.examples ?? []).map((e) => (typeof e === 'string' ? e : e.command)).map((e) => e.replaceAll('<%= config.bin %>', bin).replaceAll('<%= command.id %>', spaced(command.id)));
  const flags = Object.values(command.flags ?? {})
    .filter((f) => !f.hidden)
    .map((f): CatalogFlag => ({
      name: f.name,
      ...(f.char ? { char: f.char } : {}),
      type: f.type,
      ...(f.summary || f.description ? { description: f.summary ?? f.description } : {}),
      required: Boolean(f.required),
      multiple: f.type === 'option' ? Boolean(f.multiple) : false,
      ...(f.default !== undefined && typeof f.default !== 'function' ? { default: f.default } : {}),
      ...(f.type === 'option' && f.options ? { options: f.options } : {}),
      ...(f.env ? { env: f.env } : {}),
      ...(f.type === 'boolean' && f.allowNo ? { allowNo: true } : {}),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const args = Object.values(command.args ?? {}).map((a) => ({ name: a.name, ...(a.description ? { description: a.description } : {}), required: Boolean(a.required) }));
  // A plugin's command may have only a description (autocomplete): its first line is the summary.
  const summary = command.summary ?? command.description?.split('\n')[0];
  return {
    id: spaced(command.id),
    ...(summary ? { summary } : {}),
    ...(command.description ? { description: command.description } : {}),
    examples,
    args,
    flags,
  };
}

/**
 * Every visible command (no words), the commands of a topic (`data`), or one command
 * (`data practice`). Words that are neither are a UserError naming the closest command.
 */
export function commandCatalog(config: Pick<Interfaces.Config, 'bin' | 'version' | 'commands' | 'topics'>, words: readonly string[] = []): CommandCatalog {
  const visible = config.commands.filter((c) => !c.hidden).sort((a, b) => a.id.localeCompare(b.id));
  const id = words.join(':');
  const base = { bin: config.bin, version: config.version };
  // oclif lists every command as a topic too; a topic here is a group: a name with commands under it
  const groups = config.topics.filter((t) => !t.hidden && visible.some((c) => c.id.startsWith(`${t.name}:`)));
  if (!id) {
    const topics = groups.filter((t) => !t.name.includes(':')).map((t) => ({ name: spaced(t.name), ...(t.description ? { description: t.description } : {}) }));
    return { ...base, topics, commands: visible.map((c) => describeCommand(c, config.bin)) };
  }
  const command = visible.find((c) => c.id === id);
  if (command) return { ...base, topics: [], commands: [describeCommand(command, config.bin)] };
  const under = visible.filter((c) => c.id.startsWith(`${id}:`));
  if (under.length > 0) {
    const topics = groups.filter((t) => t.name === id || t.name.startsWith(`${id}:`)).map((t) => ({ name: spaced(t.name), ...(t.description ? { description: t.description } : {}) }));
    return { ...base, topics, commands: under.map((c) => describeCommand(c, config.bin)) };
  }
  const typed = words.join(' ');
  const closest = closestName(typed, [...visible.map((c) => spaced(c.id)), ...config.topics.map((t) => spaced(t.name))]);
  throw new UserError(`${typed} is not a ${config.bin} command or topic`, {
    hint: `${closest ? `did you mean \`${config.bin} help ${closest}\`? ` : ''}\`${config.bin} help\` lists the commands.`,
    exitCode: 2,
  });
}

/** The catalog as the one result line of --json. */
export function catalogResult(config: Pick<Interfaces.Config, 'bin' | 'version' | 'commands' | 'topics'>, words: string[]): object {
  return asResult(commandCatalog(config, words));
}
