// The Django admin and the API docs as an operator sees them, against a running web
// service (E2E_BASE_URL) whose static files WhiteNoise serves from collectstatic's output.
// exchange_site/tests/test_static_files.py starts one (DEBUG on, then off) with a superuser
// (E2E_ADMIN_USER, E2E_ADMIN_PASSWORD) and runs this file. Every request to another host is
// aborted and recorded: the pages must work offline.
import { expect, test, type Page } from '@playwright/test';

const SHOTS = 'test-results/screenshots';
const SUFFIX = process.env.E2E_SHOT_SUFFIX ?? 'local';
const USER = process.env.E2E_ADMIN_USER ?? '';
const PASSWORD = process.env.E2E_ADMIN_PASSWORD ?? '';

type Watch = { external: string[]; failed: string[] };

// Abort whatever is not this site and note it; note every answer of 400 or more too.
async function watch(page: Page): Promise<Watch> {
  const seen: Watch = { external: [], failed: [] };
  const origin = new URL(test.info().project.use.baseURL ?? '').origin;
  await page.context().route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('data:') || new URL(url).origin === origin) return route.continue();
    seen.external.push(url);
    return route.abort();
  });
  page.on('response', (response) => {
    if (response.status() >= 400) seen.failed.push(`${response.status()} ${response.url()}`);
  });
  page.on('pageerror', (error) => seen.failed.push(`page error: ${error.message}`));
  return seen;
}

test.use({ colorScheme: 'light' });

test('the admin is styled: its stylesheets load and apply', async ({ page }) => {
  expect(USER, 'E2E_ADMIN_USER must name a superuser').not.toBe('');
  const seen = await watch(page);
  await page.goto('/admin/login/?next=/admin/');
  await page.getByLabel('Username').fill(USER);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(/\/admin\/$/);
  await expect(page.getByRole('heading', { name: 'Site administration' })).toBeVisible();

  // base.css: the header on --header-bg (#417690), the page in its font stack.
  const header = page.locator('#header');
  await expect(header).toHaveCSS('background-color', 'rgb(65, 118, 144)');
  await expect(header).toHaveCSS('color', 'rgb(255, 255, 204)'); // --header-color #ffc
  const font = await page.evaluate(() => getComputedStyle(document.body).fontFamily);
  expect(font).toMatch(/^"Segoe UI", system-ui/);
  // dark_mode.css: the theme toggle shows one icon (unstyled: three black squares)
  const icons = page.locator('.theme-toggle svg');
  await expect(icons).toHaveCount(3);
  const shown = await icons.evaluateAll(
    (nodes) => nodes.filter((n) => getComputedStyle(n).display !== 'none').length,
  );
  expect(shown).toBe(1);
  // every stylesheet the page links came from this site, with rules in it
  const sheets = await page.evaluate(() =>
    [...document.styleSheets].map((s) => ({ href: s.href, rules: s.cssRules.length })),
  );
  const linked = sheets.filter((s) => s.href);
  expect(linked.length).toBeGreaterThanOrEqual(3);
  for (const sheet of linked) expect(sheet.rules, sheet.href ?? '').toBeGreaterThan(0);

  await page.screenshot({ path: `${SHOTS}/admin-${SUFFIX}.png`, fullPage: true });
  expect(seen.external).toEqual([]);
  expect(seen.failed).toEqual([]);
});

test('the API docs render offline: swagger-ui from this site lists the operations', async ({
  page,
}) => {
  const seen = await watch(page);
  await page.goto('/api/docs/');
  await expect(page.locator('.swagger-ui .info .title')).toContainText('Exchange API');
  const operations = page.locator('.opblock-summary-path');
  await expect(operations.first()).toBeVisible();
  expect(await operations.count()).toBeGreaterThanOrEqual(10);
  await expect(page.locator('.opblock-summary-path', { hasText: /^\/api\/v1\/orders$/ }).first())
    .toBeVisible();
  // swagger-ui's own stylesheet applied: an operation's method badge is coloured
  await expect(page.locator('.opblock-post .opblock-summary-method').first()).toHaveCSS(
    'background-color',
    'rgb(73, 204, 144)',
  );
  await page.screenshot({ path: `${SHOTS}/api-docs-${SUFFIX}.png` });
  expect(seen.external).toEqual([]);
  expect(seen.failed).toEqual([]);
});
