// The one-line report for a server command that cannot bind its address (`serve`, `pdp serve`).

const REASONS: Record<string, string> = {
  EADDRINUSE: 'address in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'address not available on this host',
};

/** Whether e is a bind failure (as opposed to, say, a bad policy file found while starting). */
export const isListenError = (e: unknown) => Object.hasOwn(REASONS, String((e as NodeJS.ErrnoException)?.code));

export function cannotListen(host: string, port: number, e: NodeJS.ErrnoException): string {
  const reason = REASONS[String(e.code)] ?? e.code ?? e.message;
  return `keyward: cannot listen on ${host.includes(':') ? `[${host}]` : host}:${port}: ${reason}`;
}
