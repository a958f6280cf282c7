// Password logins through the real login form, run as its own process: each worker is a fresh browser that
// starts an authorization-code + PKCE flow, posts the login form and follows redirects until the code arrives.
// argv[2] is JSON: { issuer, origin, clientId, redirectUri, username, password, concurrency, duration }.
import { createHash, randomBytes } from 'node:crypto';
import { Agent, formAction, hidden } from '../harness/browser.ts';

const o = JSON.parse(process.argv[2]!) as { issuer: string; origin: string; clientId: string; redirectUri: string; username: string; password: string; concurrency: number; duration: number };

async function login(): Promise<void> {
  const agent = new Agent();
  const verifier = randomBytes(32).toString('base64url');
  const auth = new URL(`${o.issuer}/protocol/openid-connect/auth`);
  auth.search = new URLSearchParams({
    client_id: o.clientId,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: o.redirectUri,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state: randomBytes(8).toString('hex'),
  }).toString();
  const { res } = await agent.follow(auth.href, o.origin);
  const page = await res.text();
  if (res.status !== 200) throw new Error(`login page: ${res.status}`);
  const post = await agent.post(new URL(formAction(page), o.origin).href, { csrf: hidden(page, 'csrf'), username: o.username, password: o.password });
  if (post.status !== 303) throw new Error(`login post: ${post.status}`);
  const { url } = await agent.follow(new URL(post.headers.get('location')!, o.origin).href, o.origin);
  if (!url.startsWith(o.redirectUri) || !new URL(url).searchParams.get('code')) throw new Error(`no code: ${url}`);
}

const latencies: number[] = [];
let errors = 0;
const end = performance.now() + o.duration * 1000;
await Promise.all(
  Array.from({ length: o.concurrency }, async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        await login();
        latencies.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  }),
);
latencies.sort((a, b) => a - b);
const pct = (p: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0);
process.stdout.write(JSON.stringify({ rps: latencies.length / o.duration, total: latencies.length, p50: pct(50), p99: pct(99), non2xx: 0, errors, timeouts: 0 }) + '\n');
