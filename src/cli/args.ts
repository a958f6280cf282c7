// Argument parsing shared by every command, so `--help`, unknown options and wrong argument counts behave the
// same everywhere: help goes to stdout with exit 0; a usage error is one line plus the usage on stderr, exit 2.
import { parseArgs, type ParseArgsOptionDescriptor, type ParseArgsOptionsConfig } from 'node:util';
import { EXIT, type CliIo } from './io.ts';

/** A problem with the arguments found after parsing; the command reports it as a usage error. */
export class UsageError extends Error {}

export interface CommandSpec<O extends ParseArgsOptionsConfig> {
  usage: string;
  options: O;
  /** Positional argument names: `ID` is required, `FILE?` optional, `SHARE...` any number (last only). */
  args?: readonly string[];
}

type OptionValue<D extends ParseArgsOptionDescriptor> = D extends { type: 'boolean' }
  ? D extends { multiple: true } ? boolean[] : boolean
  : D extends { multiple: true } ? string[] : string;

export type OptionValues<O extends ParseArgsOptionsConfig> = {
  -readonly [K in keyof O]?: OptionValue<O[K]>;
};

export interface Parsed<O extends ParseArgsOptionsConfig> {
  values: OptionValues<O>;
  positionals: string[];
}

const HELP = { help: { type: 'boolean', short: 'h' } } as const;

export function usageError(io: CliIo, usage: string, message: string): number {
  io.err(`error: ${message}`);
  io.err(usage);
  return EXIT.usage;
}

/** Parses argv for one command; returns the exit code instead when it printed help or a usage error. */
export function parseCommand<const O extends ParseArgsOptionsConfig>(argv: readonly string[], io: CliIo, spec: CommandSpec<O>): Parsed<O> | number {
  let parsed;
  try {
    const options: ParseArgsOptionsConfig = { ...spec.options, ...HELP };
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (e) {
    // Help wins over other mistakes on the same line: `keyward keys sign --bogus --help` should still help.
    if (argv.includes('--help') || argv.includes('-h')) return help(io, spec.usage);
    return usageError(io, spec.usage, describeParseError(e as NodeJS.ErrnoException));
  }
  if (parsed.values.help === true) return help(io, spec.usage);
  const { positionals } = parsed;
  const names = spec.args ?? [];
  const rest = names.at(-1)?.endsWith('...') === true;
  const required = names.filter((n) => !n.endsWith('?') && !n.endsWith('...')).length;
  if (positionals.length < required) return usageError(io, spec.usage, `missing ${names[positionals.length]}`);
  if (!rest && positionals.length > names.length) return usageError(io, spec.usage, `unexpected argument ${JSON.stringify(positionals[names.length])}`);
  const { help: _help, ...values } = parsed.values;
  return { values: values as unknown as OptionValues<O>, positionals };
}

function describeParseError(e: NodeJS.ErrnoException): string {
  // Node's text for this one goes on about positionals starting with '-'; the option name is what matters.
  const unknown = e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'([^']+)'/.exec(e.message) : null;
  if (unknown) return `unknown option ${unknown[1]}`;
  // Node's messages can span lines (e.g. the ambiguous-argument hint); a usage error is one line.
  return e.message.replace(/\s*\n\s*/g, ' ');
}

function help(io: CliIo, usage: string): number {
  io.out(usage);
  return EXIT.ok;
}

/** Whether argv asks for help before any sub-command (`keyward keys --help`). */
export const isHelp = (arg: string | undefined) => arg === '--help' || arg === '-h' || arg === 'help';

/** A whole number within bounds, or a usage error naming the option. */
export function integerOption(name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`${name} must be a whole number of at least ${min}, not ${JSON.stringify(value)}`);
  return Number(value);
}
