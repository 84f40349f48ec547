/**
 * Two kinds of error (after Shopify CLI's AbortError / BugError):
 * a UserError is something the user can fix; it says what was wrong, where, and what to try.
 * Anything else is a bug and is printed with its stack.
 */
export interface ErrorLocation {
  file?: string;
  line?: number;
  column?: number;
  flag?: string;
}

export class UserError extends Error {
  readonly hint?: string;
  readonly where?: ErrorLocation;
  readonly exitCode: number;

  constructor(message: string, options: { hint?: string; where?: ErrorLocation; exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UserError';
    this.hint = options.hint;
    this.where = options.where;
    this.exitCode = options.exitCode ?? 2;
  }
}

export function formatLocation(where: ErrorLocation | undefined): string {
  if (!where) return '';
  const parts: string[] = [];
  if (where.file) {
    let loc = where.file;
    if (where.line !== undefined) loc += `:${where.line}`;
    if (where.column !== undefined) loc += `:${where.column}`;
    parts.push(loc);
  }
  if (where.flag) parts.push(`flag --${where.flag}`);
  return parts.join(', ');
}

/** The plain-text form printed by the CLI: "error: <what> (<where>)\n  hint: <what to do>". */
export function formatUserError(error: UserError): string {
  const where = formatLocation(error.where);
  let text = `error: ${error.message}${where ? ` (${where})` : ''}`;
  if (error.hint) text += `\n  hint: ${error.hint}`;
  return text;
}
