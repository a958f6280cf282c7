// A tiny cookie-keeping HTTP user agent for driving the login form without a browser.
export class Agent {
  readonly jar = new Map<string, string>();
  async get(url: string): Promise<Response> {
    return this.#send(url, { method: 'GET' });
  }
  async post(url: string, form: Record<string, string>): Promise<Response> {
    return this.#send(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
  }
  async #send(url: string, init: RequestInit): Promise<Response> {
    const cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), ...(cookie ? { cookie } : {}) } });
    for (const sc of res.headers.getSetCookie()) {
      const [pair, ...attrs] = sc.split(';');
      const i = pair!.indexOf('=');
      const name = pair!.slice(0, i).trim();
      const value = pair!.slice(i + 1).trim();
      const expired = attrs.some((a) => /expires=Thu, 01 Jan 1970/i.test(a)) || value === '';
      if (expired) this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return res;
  }
  /** Follows redirects within `origin` until one leaves it (or a page is rendered). */
  async follow(url: string, origin: string, max = 10): Promise<{ url: string; res: Response }> {
    let current = url;
    for (let i = 0; i < max; i++) {
      const res = await this.get(current);
      const loc = res.headers.get('location');
      if (!loc || res.status < 300 || res.status >= 400) return { url: current, res };
      current = new URL(loc, current).href;
      if (!current.startsWith(origin) || current.startsWith(`${origin}/rp/`)) return { url: current, res };
    }
    throw new Error('too many redirects');
  }
}

export function hidden(html: string, name: string): string {
  const m = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
  if (!m) throw new Error(`no hidden ${name} in page`);
  return m[1]!;
}

export function formAction(html: string): string {
  const m = html.match(/<form[^>]*action="([^"]+)"/);
  if (!m) throw new Error('no form in page');
  return m[1]!.replace(/&amp;/g, '&');
}
