import os from 'node:os';
import { Command, Errors } from '@oclif/core';
import { UserError, formatUserError, fromSystemError, type ErrorLocation } from '../errors.js';
import { closestName } from '../closest-name.js';
import { followNoColor } from './color.js';
import { dropClosedOutput, liveTerminal } from './terminal.js';
import { releaseHeldLocksSync } from '../runs/lock.js';
import { onStopSignals, signalExitCode } from '../signals.js';
import { redactRedisUrl } from '../services/queue/redis-url.js';

/** A command's result as its --json line: `type` first for readers, and last so that a result's own field cannot hide it. */
export function asResult<T>(result: T): T {
  return Object.assign({ type: 'result' }, result as object, { type: 'result' }) as T;
}

/** The JSON form of an error under --json (one line on stdout, same exit code as without). */
export interface JsonError {
  type: 'error';
  error: string;
  hint: string | null;
  where: ErrorLocation | null;
}

/**
 * Base of every command: one place that prints errors (UserError: what/where/hint,
 * exit code ≠ 0; anything else: a bug with its stack) and knows whether output is
 * for a person (TTY) or a machine (--json, CI, TERM=dumb, pipes).
 *
 * The JSON contract (oclif's `enableJsonFlag`): under --json stdout is NDJSON, one object
 * per line, each with a `type`. Long jobs stream their events (`type` = the event) and end
 * with the result (`type: "result"`) as the last line; an error is `{"type":"error","error",
 * "hint","where"}` as the last line, with the exit code the error has without --json.
 */
export abstract class DigitsCommand extends Command {
  static override enableJsonFlag = true;

  override async init(): Promise<void> {
    // Before run() loads Ink (and its chalk, which decides its colour level as it loads).
    followNoColor();
    // A reader that goes away (`| head -1`) stops the output, not the job.
    dropClosedOutput();
    // A quoted ~ ('~/comp', --out=~/comp) reaches us as it was typed: expanded as the shell
    // would have (it made a folder named ~ in the working folder, printed as "~/comp").
    this.argv = this.argv.map(expandHome);
    await super.init();
    // `--header --no-header`: oclif takes the last in silence, where a flag given twice is refused.
    const words = this.argv.slice(0, this.argv.includes('--') ? this.argv.indexOf('--') : undefined);
    // `--runs-dir ""` (an unset shell variable, a quoting slip) would mean the working folder in
    // silence for a path, and nothing sensible for any other value: refused, naming the flag.
    const options = (this.constructor as { flags?: Record<string, { type?: string; options?: readonly string[]; description?: string; required?: boolean }> }).flags ?? {};
    words.forEach((word, i) => {
      const name = /^--([\w-]+)(=?)$/.exec(word);
      if (!name || options[name[1]!]?.type !== 'option') return;
      if (name[2] === '=' || words[i + 1] === '') {
        // The hint fits the flag: a name, one of its choices, a path, or a value (until session 43
        // every flag was told that a path to the working folder is ., `--name` and `--precision` alike).
        const flag = options[name[1]!]!;
        const what =
          name[1] === 'name'
            ? `a name (for example --name first-try)`
            : flag.options?.length
              ? `one of ${flag.options.join(', ')}`
              : /\b(folder|file|path)\b/i.test(flag.description ?? '')
                ? 'a path (the working folder is .)'
                : 'a value';
        // (a required flag has no default to fall back on: `worker --redis ""` was told to leave it out)
        throw new UserError(`--${name[1]} is given an empty value`, { where: { flag: name[1]! }, hint: `Give --${name[1]} ${what}${flag.required ? '' : ', or leave it out for its default'}.`, exitCode: 2 });
      }
    });
    for (const word of words) {
      const name = /^--no-([\w-]+)$/.exec(word)?.[1];
      if (name && words.some((w) => w === `--${name}` || w.startsWith(`--${name}=`))) {
        throw new UserError(`--${name} and --no-${name} are both given`, { where: { flag: name }, hint: `Give one of them (or neither, for the default).`, exitCode: 2 });
      }
    }
  }

  /** True when results should be plain lines or JSON, not an interactive Ink view (pipes, CI as Ink sees it, TERM=dumb, --json). */
  protected get plainOutput(): boolean {
    return !liveTerminal(process.stderr) || this.jsonEnabled();
  }

  /** The command's result: the last line under --json (`type: "result"`). */
  protected printJson(value: object): void {
    this.logJson(this.toSuccessJson(value));
  }

  /** One event of a stream, one NDJSON line on stdout (only under --json). */
  protected emitJson<E extends { type: string }>(event: E): void {
    if (this.jsonEnabled()) this.logJson(event);
  }

  override logJson(json: unknown): void {
    process.stdout.write(`${JSON.stringify(json)}\n`);
  }

  override toSuccessJson<T>(result: T): T {
    return asResult(result);
  }

  override toErrorJson(error: unknown): JsonError {
    const user = toUserError(error, this.id ?? undefined, this.config?.bin, (this.constructor as { flags?: Record<string, unknown> }).flags, this.argv);
    if (user) return { type: 'error', error: user.message, hint: user.hint ?? null, where: user.where ?? null };
    const message = error instanceof Error ? error.message : String(error);
    return { type: 'error', error: `internal error (a bug in digits, please report it): ${message}`, hint: null, where: null };
  }

  /**
   * Ctrl-C (SIGINT), SIGTERM or a hang-up (SIGHUP: the terminal closed) during a long job: what was saved stays (members save every
   * epoch, a search every trial, files are written atomically), and the job's last word is
   * `interrupted (<signal>)` with a hint that says what is kept and how to continue (`hint()`,
   * asked at the signal, so it can look at what exists by then): the error line under --json,
   * `error: … hint: …` on stderr otherwise.
   * The process then dies by the signal, so a shell reports 130, 143 or 129.
   */
  protected exitOnInterrupt(hint: () => string, before?: () => void): void {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      // The listener stays while the job is being stopped, and a second signal is let go: with
      // none listening, Node's default would end the process at once, and the second SIGINT a
      // Ctrl-C or `timeout` sends (one to the process, one to its group) then killed it inside
      // the hint's clean-up, without its last word and with half a run folder left (session 38).
      if (stopping) return;
      stopping = true;
      before?.();
      // What is kept is the hint's to say: a job stopped before it saved anything keeps nothing
      // ("interrupted (SIGINT); the work saved so far is kept" once stood above run's "nothing is kept").
      const error = new UserError(`interrupted (${signal})`, { hint: hint(), exitCode: signalExitCode(signal) });
      try {
        if (this.jsonEnabled()) this.logJson(this.toErrorJson(error));
        else process.stderr.write(`\n${formatUserError(error)}\n`);
      } catch {
        // after a hang-up the terminal may be gone (EIO): the lock and the signal still matter
      }
      // Dying by the signal itself (the default action, re-raised) rather than process.exit():
      // exit handlers would tear down worker threads mid-step, and ONNX Runtime's native
      // objects then abort the process (seen: "terminate called after throwing Napi::Error", 134).
      off();
      // The run folder's lock goes with the process (the work kept is resumable without it).
      releaseHeldLocksSync();
      process.kill(process.pid, signal);
    };
    const off = onStopSignals(stop);
  }

  protected override async catch(error: Error & { exitCode?: number }): Promise<unknown> {
    // oclif's exit (this.exit) is not an error to report.
    if (error instanceof Errors.ExitError) throw error;
    const json = this.jsonEnabled();
    const user = toUserError(error, this.id ?? undefined, this.config?.bin, (this.constructor as { flags?: Record<string, unknown> }).flags, this.argv);
    const code = user?.exitCode ?? (isOclifError(error) ? (error.oclif?.exit ?? 2) : 70);
    if (json) {
      this.logJson(this.toErrorJson(error));
      this.exit(code);
    }
    if (user) {
      process.stderr.write(`${formatUserError(user)}\n`);
      this.exit(code);
    }
    const bug = error as Error;
    process.stderr.write(`internal error (a bug in digits, please report it): ${bug.stack ?? bug.message}\n`);
    this.exit(70);
  }
}

/** `~` and `~/…` as a word or a `--flag=` value: the home folder, as a shell expands it. */
export function expandHome(word: string): string {
  const match = /^(--[\w-]+=)?~(\/.*)?$/.exec(word);
  if (!match) return word;
  return `${match[1] ?? ''}${os.homedir()}${match[2] ?? ''}`;
}

function isOclifError(error: unknown): error is Errors.CLIError {
  return error instanceof Errors.CLIError || (typeof error === 'object' && error !== null && (error as { oclif?: unknown }).oclif !== undefined);
}

/**
 * Our errors as they are; oclif's unknown-flag error as one that names the flag and the
 * closest known one ("did you mean --answers?") instead of dumping the whole help; oclif's
 * other parse errors (a bad value, flags that exclude each other, a missing argument) as one
 * line naming the flag, in the same format as ours.
 */
function toUserError(error: unknown, id?: string, bin = 'digits', flags: Record<string, unknown> = {}, argv: readonly string[] = process.argv.slice(2)): UserError | null {
  if (error instanceof UserError) return fromEnvironment(error, flags, argv);
  const system = fromSystemError(error);
  if (system) return system;
  if (!isOclifError(error)) return null;
  const unknown = (error as { flags?: unknown }).flags;
  const parse = (error as { parse?: { input?: { flags?: Record<string, unknown> } } }).parse;
  const command = id ? `${bin} ${id.replaceAll(':', ' ')}` : bin;
  if (Array.isArray(unknown) && unknown.length > 0) {
    const known = Object.keys(parse?.input?.flags ?? {});
    const typed = String(unknown[0]);
    const name = typed.replace(/^-+/, '').replace(/=.*/, '');
    const closest = closestName(name, known);
    const suggestion = closest ? `did you mean --${closest}? ` : '';
    // (a folder named -weird: `digits data import -weird` reads as a flag)
    const pathLike = /^-[^-]/.test(typed) ? `A path starting with - is written ./${typed} (or after --). ` : '';
    // (a short flag is named as typed, in the message: `where.flag` is printed as `flag --x`, which was never typed)
    return new UserError(`not a flag of ${command}${pathLike ? ` (${typed})` : ''}`, { where: pathLike ? {} : { flag: name }, hint: `${pathLike}${suggestion}\`${command} --help\` lists the flags.`, exitCode: 2 });
  }
  // Missing arguments: named as the usage writes them, each with its description, from the
  // error's own list (its text wraps descriptions to the terminal's width, and they were glued
  // together as "a  A run name…; b  The other run.")
  const required = (error as { args?: Array<{ name?: string; description?: string }> }).args;
  if (Array.isArray(required) && required.length > 0 && /^Missing \d+ required arg/.test(error.message)) {
    const named = required.map((a) => `<${a.name ?? '?'}>${a.description ? ` (${a.description.charAt(0).toLowerCase()}${a.description.slice(1).replace(/\.$/, '')})` : ''}`);
    const list = named.length > 1 ? `${named.slice(0, -1).join(', ')} and ${named.at(-1)}` : named[0];
    return new UserError(`missing ${named.length === 1 ? 'an argument' : `${named.length} arguments`}: ${list}`, { hint: `\`${command} --help\` shows the usage.`, exitCode: error.oclif?.exit ?? 2 });
  }
  const message = parseErrorMessage(error.message);
  const where = parseErrorFlag(message);
  // A value that came from the environment (DIGITS_SEED=abc), not from a flag typed: say so, or the user looks for a flag they never gave.
  const definition = where?.flag ? ((parse?.input?.flags ?? flags)[where.flag] as { env?: string } | undefined) : undefined;
  const typed = where?.flag ? argv.some((word) => word === `--${where.flag}` || word.startsWith(`--${where.flag}=`)) : true;
  if (definition?.env && !typed && process.env[definition.env] !== undefined) {
    return new UserError(`${message} (from the environment: ${definition.env}=${redactRedisUrl(process.env[definition.env]!)})`, { where, hint: `Fix or unset ${definition.env}, or give --${where!.flag} on the command line.`, exitCode: error.oclif?.exit ?? 2 });
  }
  // A required flag left out that the environment could give: say both ways.
  if (definition?.env && /^Missing required flag/i.test(message)) {
    return new UserError(message, { where, hint: `Give --${where!.flag}, or set ${definition.env}. \`${command} --help\` shows the usage.`, exitCode: error.oclif?.exit ?? 2 });
  }
  // A value outside a flag's options ("Expected --recipe=mnistc-fgo to be one of: a, b"): the closest option.
  const options = /^Expected --[\w-]+=(.*) to be one of: (.*?)(?:;|$)/.exec(message);
  const closest = options ? closestName(options[1]!, options[2]!.split(', ')) : undefined;
  return new UserError(message, { where, hint: `${closest ? `did you mean ${closest}? ` : ''}\`${command} --help\` shows the usage.`, exitCode: error.oclif?.exit ?? 2 });
}

/**
 * Our error about a flag whose value came from the environment (DIGITS_DATA, DIGITS_QUEUE…),
 * not from the command line: said so, or the user looks for a flag they never typed (with
 * DIGITS_QUEUE in a shell profile, a local `train` failed "cannot reach Redis (flag --queue)").
 */
function fromEnvironment(error: UserError, flags: Record<string, unknown>, argv: readonly string[]): UserError {
  const flag = error.where?.flag;
  const variable = flag ? (flags[flag] as { env?: string } | undefined)?.env : undefined;
  if (!flag || !variable || process.env[variable] === undefined || error.message.includes('(from the environment: ')) return error;
  // (the command's own words: run in-process, process.argv is the host's)
  if (argv.some((word) => word === `--${flag}` || word.startsWith(`--${flag}=`))) return error;
  return new UserError(`${error.message} (from the environment: ${variable}=${redactRedisUrl(process.env[variable]!)})`, {
    where: error.where,
    hint: `${error.hint ? `${error.hint} ` : ''}--${flag} came from ${variable}: fix or unset it, or give --${flag} on the command line.`,
    exitCode: error.exitCode,
    cause: error,
  });
}

/**
 * oclif's parse error text as one line: "Parsing --epochs\n\tExpected an integer …" becomes
 * "--epochs: expected an integer …"; "The following errors occurred:" and its list, the list
 * joined by "; ".
 */
export function parseErrorMessage(text: string): string {
  const lines = text
    .replace(/\n?See more help with --help\s*$/, '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !/^The following errors? occurred:$/.test(line));
  const parsing = /^Parsing (--[\w-]+)$/.exec(lines[0] ?? '');
  if (parsing && lines[1]) return `${parsing[1]}: ${lines[1].charAt(0).toLowerCase()}${lines[1].slice(1)}${lines.length > 2 ? `; ${lines.slice(2).join('; ')}` : ''}`;
  return lines.join('; ').replace(/:;/g, ':');
}

/** The first flag an oclif parse error names, as `where`. */
function parseErrorFlag(text: string): ErrorLocation | undefined {
  // A missing argument names no flag, though oclif's text goes on to list the usage's flags.
  if (/^missing \d+ required arg/i.test(text)) return undefined;
  // oclif names a missing required flag without its dashes: "Missing required flag preset".
  const flag = /^Missing required flag:?\s+(?:--)?([a-z][\w-]*)/i.exec(text)?.[1] ?? /--([a-z][\w-]*)/i.exec(text)?.[1];
  return flag ? { flag } : undefined;
}
