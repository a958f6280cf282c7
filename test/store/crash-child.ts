// Child process for crash.test.ts: writes to the store as fast as it can until it is SIGKILLed.
// argv[2]: the StoreConfig as JSON. Prints "ready" once the store is open and "created" after its first new key.
import { randomBytes, randomInt } from 'node:crypto';
import { openStore, type StoreConfig } from '../../src/store/open.ts';
import { StoreConflictError, type NewKeyVersion } from '../../src/store/types.ts';

const cfg = JSON.parse(process.argv[2] ?? '') as StoreConfig;
// Never outlive a parent that failed to kill us.
setTimeout(() => process.exit(3), 20_000).unref();

const store = await openStore(cfg);

const version = (): NewKeyVersion => {
  const spki = randomBytes(91);
  return {
    publicKeySpki: spki,
    fingerprint: `sha256:${randomBytes(32).toString('hex')}`,
    sealedMaterial: randomBytes(300 + randomInt(300)),
    createdAt: new Date(),
  };
};

// Keys from earlier runs too, so rotations and overwrites hit rows written by killed processes.
const ids: string[] = (await store.keys.list({ limit: 1000 })).items.map((k) => k.id);
// A guard that yields, so transactions stay open across turns of the event loop (more chances to die mid-way).
const yieldingGuard = () => new Promise<void>((resolve) => setImmediate(resolve));

process.stdout.write('ready\n');
let announced = false;

async function worker(w: number): Promise<never> {
  for (let n = 0; ; n++) {
    try {
      const op = randomInt(10);
      const pick = ids.length > 0 ? ids[randomInt(ids.length)]! : undefined;
      if (op < 3 || pick === undefined) {
        const id = `c${process.pid}-${w}-${n}`;
        await store.keys.create(
          { id, type: 'EC-P256', labels: { w: String(w) }, description: null, origin: 'generated', createdAt: new Date() },
          version(),
          { overwrite: false, guard: yieldingGuard },
        );
        ids.push(id);
        // The parent kills only after this, so every round adds at least one key however slow the machine is.
        if (!announced) process.stdout.write('created\n');
        announced = true;
      } else if (op < 8) {
        const k = await store.keys.get(pick);
        if (k && k.state !== 'destroyed') await store.keys.addVersion(pick, k.revision, version(), yieldingGuard);
      } else if (op === 8) {
        const k = await store.keys.get(pick);
        if (k && k.state !== 'destroyed') {
          if (randomInt(2) === 0) await store.keys.destroy(pick, k.revision, new Date(), yieldingGuard);
          else await store.keys.setState(pick, k.revision, { state: 'released', destroyAt: new Date(), updatedAt: new Date() });
        }
      } else {
        await store.keys.create(
          { id: pick, type: 'Ed25519', labels: {}, description: 'replaced', origin: 'imported', createdAt: new Date() },
          version(),
          { overwrite: true, guard: yieldingGuard },
        );
      }
    } catch (e) {
      // Concurrent workers race each other; conflicts are expected, anything else is a bug.
      if (!(e instanceof StoreConflictError)) throw e;
    }
  }
}

await Promise.all([worker(0), worker(1), worker(2)]);
