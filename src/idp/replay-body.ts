// oidc-provider reads a request body from the request stream. Keyward's server has read it already (the profile
// guard and the token rewriting need it), and a consumed stream makes the library fall back to `req.body` with a
// plain-text console warning in the middle of the JSON log. The request it is handed replays the text instead.
import type { IncomingMessage } from 'node:http';

export type BodiedRequest = IncomingMessage & { body?: unknown };

/**
 * The request as a stream of its body text (read when the library asks for it, so a rewrite of `body` made by an
 * earlier middleware is what it reads; such a rewrite sets content-length too). Everything else is the request.
 */
export function replayingBody(raw: BodiedRequest): BodiedRequest {
  if (typeof raw.body !== 'string') return raw;
  let replayed = false;
  return new Proxy(raw, {
    get(target, prop) {
      if (prop === 'readable') return !replayed;
      if (prop === 'readableEncoding') return null;
      if (prop === 'iterator') {
        return () => {
          replayed = true;
          return chunks(String(target.body));
        };
      }
      return Reflect.get(target, prop, target);
    },
  });
}

async function* chunks(text: string): AsyncGenerator<Buffer> {
  yield Buffer.from(text, 'utf8');
}
