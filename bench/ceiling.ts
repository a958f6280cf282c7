// Reference point, not Keyward: the same ES256 signature behind a bare Fastify route (no auth, no audit,
// no metrics), to show what the HTTP stack alone costs on this machine. It signs on libuv's threadpool, as
// Keyward does. argv[2]: port.
import { generateKeyPairSync, sign } from 'node:crypto';
import Fastify from 'fastify';

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const app = Fastify();
app.post('/sign', async (req) => {
  const message = Buffer.from((req.body as { message: string }).message, 'base64');
  const signature = await new Promise<Buffer>((resolve, reject) => sign('sha256', message, privateKey, (err, sig) => (err ? reject(err) : resolve(sig))));
  return { signature: signature.toString('base64') };
});
await app.listen({ host: '127.0.0.1', port: Number(process.argv[2]) });
process.stdout.write('ready\n');
