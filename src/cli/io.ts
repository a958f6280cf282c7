// What a CLI command may touch: its streams and environment. Commands return an exit code instead of
// calling process.exit so they can be tested in-process.

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  /** Bytes to stdout exactly as given (no encoding, no newline); absent where only text lines can be shown. */
  write?(bytes: Uint8Array): void;
  /** Where `keyward unseal` reads shares from when none are given as arguments; absent means empty. */
  stdin?: AsyncIterable<Buffer | string> & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

export const processIo: CliIo = {
  out: (l) => process.stdout.write(l + '\n'),
  err: (l) => process.stderr.write(l + '\n'),
  write: (b) => process.stdout.write(b),
  // A getter: touching process.stdin opens it, which commands that never read it should not pay for.
  get stdin() {
    return process.stdin;
  },
  env: process.env,
};

/** Exit codes that mean something to scripts. */
export const EXIT = {
  ok: 0,
  failure: 1, // the operation ran and failed (e.g. verification found tampering)
  usage: 2, // bad arguments
  config: 3, // invalid configuration
  unavailable: 4, // server unreachable, sealed or not answering; `serve` cannot listen
  denied: 5, // authentication or authorization refused
} as const;

export type CliCommand = (argv: string[], io: CliIo) => Promise<number>;
