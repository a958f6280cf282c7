// Suspending a child process for a test (SIGSTOP) and knowing it is suspended. kill(SIGSTOP) returns once the signal
// is queued; a multi-threaded process (slapd, Node) stops only when one of its threads is scheduled and begins the
// group stop, and until then its other threads keep running. On a loaded machine that is long enough to answer the
// very request the test expected to time out, so `suspend` waits until every thread is in the stopped state.
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** The state letter of one thread (R, S, D, T, t, Z...); undefined when it is gone. */
function threadState(pid: number, tid: string): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    // "tid (comm) S ...": comm may itself hold spaces and parentheses, the state follows the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

function allStopped(pid: number): boolean {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    // No procfs (not Linux): the signal is all there is.
    return true;
  }
  return tids.every((tid) => {
    const s = threadState(pid, tid);
    return s === undefined || s === 'T' || s === 't' || s === 'Z' || s === 'X';
  });
}

/** SIGSTOP, then waits (up to 10 s) until no thread of the process can run; throws when it has exited or does not stop. */
export async function suspend(proc: ChildProcess): Promise<void> {
  const pid = proc.pid;
  if (pid === undefined || proc.exitCode !== null || proc.signalCode !== null || !proc.kill('SIGSTOP')) {
    throw new Error(`cannot suspend process ${pid ?? '(not started)'}: it is not running`);
  }
  const deadline = Date.now() + 10_000;
  while (!allStopped(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not stop within 10 s of SIGSTOP`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** SIGCONT (nothing when the process is gone). */
export function resume(proc: ChildProcess): void {
  if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGCONT');
}
