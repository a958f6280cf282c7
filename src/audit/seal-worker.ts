// Worker thread that seals audit batches (canonical bytes, BLAKE3 chain, Ed25519) off the request thread. It holds
// the signing key only in this process's memory, like the main thread does.
import type { KeyObject } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { sealDrafts, type ChainHead, type EventDraft } from './seal.ts';

const chain = workerData as { chainId: string; keyId: string; privateKey: KeyObject };

parentPort!.on('message', (m: { id: number; head: ChainHead; drafts: EventDraft[] }) => {
  try {
    parentPort!.postMessage({ id: m.id, seals: sealDrafts(chain, m.head, m.drafts) });
  } catch (e) {
    parentPort!.postMessage({ id: m.id, error: (e as Error).message });
  }
});
