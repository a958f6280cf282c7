// What a CLI command may touch: its streams and environment. Commands return an exit code instead of
// calling process.exit so they can be tested in-process.

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  env: NodeJS.ProcessEnv;
}

export const processIo: CliIo = {
  out: (l) => process.stdout.write(l + '\n'),
  err: (l) => process.stderr.write(l + '\n'),
  env: process.env,
};

/** Exit codes that mean something to scripts. */
export const EXIT = {
  ok: 0,
  failure: 1, // the operation ran and failed (e.g. verification found tampering)
  usage: 2, // bad arguments
  config: 3, // invalid configuration
  unavailable: 4, // server unreachable or sealed
  denied: 5, // authentication or authorization refused
} as const;

export type CliCommand = (argv: string[], io: CliIo) => Promise<number>;
