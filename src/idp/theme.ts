// A realm's look on its sign-in pages: colours and texts from the configuration, a logo and an extra stylesheet
// from the operator's theme directory. The pages load one stylesheet from /realms/{realm}/theme/style.css (so the
// CSP needs no 'unsafe-inline'); other files of the directory are served from /realms/{realm}/theme/assets/{file}.
// URLs carry a content hash (?v=) so browsers may cache them for good; a stale hash still gets the current file.
import { createHash } from 'node:crypto';
import { readFile, realpath, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import type { IdpRealmConfig } from './config.ts';

export interface ThemeColors {
  primary: string;
  on_primary: string;
  background: string;
  surface: string;
  text: string;
  error: string;
}

export const DEFAULT_COLORS: ThemeColors = {
  primary: '#1a5fb4',
  on_primary: '#ffffff',
  background: '#eef1f5',
  surface: '#ffffff',
  text: '#1b1f24',
  error: '#a4161a',
};

export const themeColors = (partial: Partial<ThemeColors> | undefined): ThemeColors => ({ ...DEFAULT_COLORS, ...partial });

/** WCAG 2.x relative luminance of #rrggbb. */
function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

export function contrastRatio(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

/** Colour pairs the pages put text on, each held to WCAG AA for normal text (4.5:1). */
export function themeContrastProblems(c: ThemeColors): string[] {
  const pairs: Array<[keyof ThemeColors, keyof ThemeColors]> = [
    ['text', 'surface'],
    ['text', 'background'],
    ['on_primary', 'primary'],
    ['primary', 'surface'],
    ['primary', 'background'],
    ['error', 'surface'],
  ];
  const out: string[] = [];
  for (const [fg, bg] of pairs) {
    const r = contrastRatio(c[fg], c[bg]);
    if (r < 4.5) out.push(`${fg} ${c[fg]} on ${bg} ${c[bg]} has contrast ${r.toFixed(2)}:1; at least 4.5:1 is needed`);
  }
  return out;
}

/** The only files served from a theme directory, by extension; anything else is 404. */
const CONTENT_TYPES: Record<string, string> = {
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.svg': 'image/svg+xml',
  '.ico': 'image/vnd.microsoft.icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
};

/** Larger files are not theme material; refusing them keeps a misplaced file from being read into memory. */
const MAX_ASSET_BYTES = 2 * 1024 * 1024;

/** Same rule as the configuration's: one plain file name, no separators, no dot files. */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9]+)+$/;

export interface ThemeAsset {
  body: Buffer;
  contentType: string;
  /** Content hash; the ETag and the ?v= of URLs. */
  version: string;
}

export interface RealmTheme {
  realm: string;
  displayName: string;
  colors: ThemeColors;
  helpText: string | undefined;
  helpUrl: string | undefined;
  footerText: string | undefined;
  logoUrl: string | undefined;
  stylesheetUrl: string;
  stylesheet: ThemeAsset;
  /** Resolved theme directory (symlinks followed), if any. */
  directory: string | undefined;
}

const versionOf = (body: Buffer) => createHash('sha256').update(body).digest('base64url').slice(0, 16);

/** The pages' own rules; colours come from the realm's custom properties. */
const BASE_CSS = `*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;font-size:1rem;line-height:1.5;color:var(--kw-text);background:var(--kw-background)}
.shell{max-width:32rem;margin:0 auto;padding:2rem 1rem}
.brand{display:flex;align-items:center;gap:.75rem;margin:0 0 1.25rem;min-height:3rem}
.brand img{display:block;max-height:3rem;max-width:10rem;width:auto;height:auto}
.realm-name{margin:0;font-size:1.25rem;font-weight:650;overflow-wrap:anywhere}
.card{background:var(--kw-surface);border:1px solid #8a9099;border-radius:.5rem;padding:1.5rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{margin:0 0 .5rem;font-size:1.5rem;line-height:1.25}
h2{margin:1.5rem 0 .5rem;font-size:1.125rem}
p{margin:0 0 1rem}
.context{margin-bottom:1.25rem}
.context strong{overflow-wrap:anywhere}
label{display:block;margin:1rem 0 .25rem;font-weight:600}
input:not([type=hidden]):not([type=checkbox]){display:block;width:100%;padding:.625rem .75rem;font:inherit;color:var(--kw-text);background:var(--kw-surface);border:1px solid #6b7280;border-radius:.375rem}
input[aria-invalid=true]{border-color:var(--kw-error);border-width:2px}
.check{display:flex;gap:.5rem;align-items:flex-start;font-weight:400}
.check input{margin:.3rem 0 0;width:1.125rem;height:1.125rem;flex:none}
button{display:block;width:100%;margin:1.5rem 0 0;padding:.75rem 1rem;font:inherit;font-weight:600;color:var(--kw-on-primary);background:var(--kw-primary);border:2px solid var(--kw-primary);border-radius:.375rem;cursor:pointer}
button:hover{filter:brightness(.92)}
a{color:var(--kw-primary);text-underline-offset:.15em}
:focus{outline:3px solid var(--kw-primary);outline-offset:2px}
:focus:not(:focus-visible){outline:none}
:focus-visible{outline:3px solid var(--kw-primary);outline-offset:2px}
input:focus-visible{outline-offset:1px}
.alert{margin:0 0 1rem;padding:.75rem 1rem;color:var(--kw-error);background:var(--kw-surface);border:1px solid var(--kw-error);border-left-width:.375rem;border-radius:.375rem;font-weight:600}
.steps{margin:0 0 1rem;padding-left:1.25rem}
.steps>li{margin:0 0 1rem;padding-left:.25rem}
.qr{display:block;width:12.5rem;height:12.5rem;margin:.5rem 0;background:#fff;border:1px solid #8a9099}
.key{display:inline-block;font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;font-size:1.125rem;font-weight:600;letter-spacing:.04em;word-spacing:.25em;overflow-wrap:anywhere}
details{margin:.5rem 0}
summary{cursor:pointer}
.uri{display:block;margin-top:.5rem;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.875rem;word-break:break-all}
.codes{display:grid;grid-template-columns:repeat(auto-fill,minmax(12rem,1fr));gap:.5rem 1rem;margin:0 0 1rem;padding:0;list-style:none}
.codes code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:1rem;font-weight:600;white-space:nowrap}
.secondary{margin:1.25rem 0 0;text-align:center}
dl.details{margin:0;display:grid;grid-template-columns:max-content 1fr;gap:.25rem .75rem}
dl.details dt{font-weight:600}
dl.details dd{margin:0;overflow-wrap:anywhere}
.foot{margin-top:1.5rem;font-size:.875rem;text-align:center}
.foot p{margin:0 0 .5rem}
@media (max-width:30rem){.shell{padding:1rem .75rem}.card{padding:1.25rem 1rem}dl.details{grid-template-columns:1fr;gap:0}dl.details dd{margin-bottom:.5rem}}
`;

function realmStylesheet(colors: ThemeColors, extra: string): Buffer {
  const vars = Object.entries(colors)
    .map(([k, v]) => `--kw-${k.replace('_', '-')}:${v}`)
    .join(';');
  return Buffer.from(`:root{${vars}}\n${BASE_CSS}${extra ? `\n/* theme stylesheet */\n${extra}\n` : ''}`);
}

/** The asset named `name` in the theme directory, or undefined (unknown, not a regular file, outside it, too big). */
export async function readThemeAsset(theme: RealmTheme, name: string): Promise<ThemeAsset | undefined> {
  if (!theme.directory || !FILE_NAME.test(name) || name.includes('..')) return undefined;
  const contentType = CONTENT_TYPES[extname(name).toLowerCase()];
  if (!contentType) return undefined;
  try {
    // A symlink in the directory may point anywhere: the resolved path must still be inside.
    const path = await realpath(join(theme.directory, name));
    if (!path.startsWith(theme.directory + sep)) return undefined;
    const s = await stat(path);
    if (!s.isFile() || s.size > MAX_ASSET_BYTES) return undefined;
    const body = await readFile(path);
    return { body, contentType, version: versionOf(body) };
  } catch {
    return undefined;
  }
}

/**
 * Reads the realm's theme at start: a configured file that is missing fails the start (an operator should not
 * find out from users). The stylesheet is built here; other assets are read per request.
 */
export async function loadTheme(realm: IdpRealmConfig): Promise<RealmTheme> {
  const t = realm.theme;
  const base = `/realms/${realm.name}/theme`;
  let directory: string | undefined;
  if (t.directory) {
    try {
      directory = await realpath(resolve(t.directory));
      if (!(await stat(directory)).isDirectory()) throw new Error('not a directory');
    } catch (e) {
      throw new Error(`realm ${realm.name}: theme directory ${t.directory} cannot be read (${(e as Error).message})`);
    }
  }
  const theme: RealmTheme = {
    realm: realm.name,
    displayName: realm.display_name ?? realm.name,
    colors: themeColors(t.colors),
    helpText: t.help_text,
    helpUrl: t.help_url,
    footerText: t.footer_text,
    logoUrl: undefined,
    stylesheetUrl: '',
    stylesheet: { body: Buffer.alloc(0), contentType: CONTENT_TYPES['.css']!, version: '' },
    directory,
  };
  const need = async (name: string, what: string) => {
    const a = await readThemeAsset(theme, name);
    if (!a) throw new Error(`realm ${realm.name}: theme ${what} ${name} is not a servable file in ${t.directory}`);
    return a;
  };
  if (t.logo) theme.logoUrl = `${base}/assets/${t.logo}?v=${(await need(t.logo, 'logo')).version}`;
  const extra = t.stylesheet ? (await need(t.stylesheet, 'stylesheet')).body.toString('utf8') : '';
  const body = realmStylesheet(theme.colors, extra);
  theme.stylesheet = { body, contentType: CONTENT_TYPES['.css']!, version: versionOf(body) };
  theme.stylesheetUrl = `${base}/style.css?v=${theme.stylesheet.version}`;
  return theme;
}
