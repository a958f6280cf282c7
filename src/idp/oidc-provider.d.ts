// oidc-provider ships no type declarations; this is the narrow surface Keyward uses.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';
  import type { KeyObject } from 'node:crypto';

  export class ExternalSigningKey {
    kid: string;
    alg: string;
    keyObject(): KeyObject;
    sign(data: Buffer): Promise<Buffer>;
  }

  export const errors: Record<string, any>;
  export const interactionPolicy: any;

  export default class Provider {
    constructor(issuer: string, configuration?: Record<string, any>);
    issuer: string;
    proxy: boolean;
    keys: string[];
    app: any;
    Client: any;
    Grant: any;
    Session: any;
    AccessToken: any;
    RefreshToken: any;
    ClientCredentials: any;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<any>;
    interactionFinished(req: IncomingMessage, res: ServerResponse, result: Record<string, any>, opts?: Record<string, any>): Promise<void>;
    interactionResult(req: IncomingMessage, res: ServerResponse, result: Record<string, any>, opts?: Record<string, any>): Promise<string>;
    on(event: string, listener: (...args: any[]) => void): this;
    use(mw: (ctx: any, next: () => Promise<void>) => Promise<void> | void): this;
    urlFor(name: string, opts?: Record<string, any>): string;
  }
}
