// Realm themes from the configuration: colours people can read, files that exist, nothing served from outside the
// theme directory.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { idpRealmConfigSchema } from '../../src/idp/config.ts';
import { contrastRatio, DEFAULT_COLORS, loadTheme, readThemeAsset, themeContrastProblems } from '../../src/idp/theme.ts';

const realm = (theme: unknown, extra: Record<string, unknown> = {}) => idpRealmConfigSchema.safeParse({ name: 'main', access_token_resource: 'urn:x', theme, ...extra });
const messages = (r: ReturnType<typeof realm>) => (r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));

test('the default colours meet WCAG AA; contrast is computed as WCAG defines it', () => {
  assert.deepEqual(themeContrastProblems(DEFAULT_COLORS), []);
  assert.equal(Math.round(contrastRatio('#000000', '#ffffff')), 21);
  assert.equal(contrastRatio('#777777', '#777777'), 1);
});

test('the configuration refuses unreadable colours, bad colour syntax, files without a directory and non-http help links', () => {
  assert.ok(realm({}).success);
  assert.ok(realm({ colors: { primary: '#0b6e4f' } }).success);
  assert.match(messages(realm({ colors: { primary: '#cccccc' } })).join('\n'), /primary #cccccc on surface #ffffff has contrast 1\.\d+:1; at least 4\.5:1 is needed/);
  assert.match(messages(realm({ colors: { on_primary: '#1a5fb5' } })).join('\n'), /on_primary .* on primary/);
  assert.match(messages(realm({ colors: { text: 'red' } })).join('\n'), /#rrggbb/);
  assert.match(messages(realm({ colors: { text: '#000;}body{x' } })).join('\n'), /#rrggbb/);
  assert.match(messages(realm({ logo: 'logo.svg' })).join('\n'), /logo: .*set directory too/);
  assert.match(messages(realm({ directory: '/x', logo: '../etc/passwd' })).join('\n'), /file name inside the theme directory/);
  assert.ok(!realm({ help_url: 'javascript:alert(1)' }).success);
  assert.ok(!realm({ unknown: 1 }).success, 'strict');
  assert.equal((realm({}, { display_name: 'Acme' }) as { data: { display_name: string } }).data.display_name, 'Acme');
});

test('loading a theme fails on a missing directory or file; assets outside the directory are never read', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kw-theme-unit-'));
  const outside = mkdtempSync(join(tmpdir(), 'kw-theme-outside-'));
  try {
    writeFileSync(join(dir, 'logo.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    writeFileSync(join(outside, 'secret.css'), 'secret');
    symlinkSync(join(outside, 'secret.css'), join(dir, 'link.css'));
    const parse = (theme: unknown) => idpRealmConfigSchema.parse({ name: 'main', access_token_resource: 'urn:x', display_name: 'Main', theme });
    await assert.rejects(loadTheme(parse({ directory: join(dir, 'nope') })), /theme directory .* cannot be read/);
    await assert.rejects(loadTheme(parse({ directory: dir, logo: 'missing.png' })), /theme logo missing\.png is not a servable file/);
    await assert.rejects(loadTheme(parse({ directory: dir, stylesheet: 'link.css' })), /stylesheet link\.css is not a servable file/);
    const theme = await loadTheme(parse({ directory: dir, logo: 'logo.png', help_text: 'Help' }));
    assert.equal(theme.displayName, 'Main');
    assert.match(theme.logoUrl!, /^\/realms\/main\/theme\/assets\/logo\.png\?v=[\w-]{16}$/);
    assert.match(theme.stylesheetUrl, /^\/realms\/main\/theme\/style\.css\?v=[\w-]{16}$/);
    assert.equal((await readThemeAsset(theme, 'logo.png'))?.contentType, 'image/png');
    for (const name of ['link.css', '../' + outside.split('/').pop() + '/secret.css', '..', '.', '', 'logo.png/', 'a/../logo.png', 'LOGO.PNG']) {
      assert.equal(await readThemeAsset(theme, name), undefined, name);
    }
    // Without a directory there are no assets at all.
    assert.equal(await readThemeAsset(await loadTheme(parse({})), 'logo.png'), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  }
});
