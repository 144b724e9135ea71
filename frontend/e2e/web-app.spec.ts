// The trader's journey through the web app, against a running stack: two traders in two
// browser contexts. E2E_MARKET is a market the market maker leaves alone (the wrapper
// creates it), so the book holds only these traders' orders; BTC_USDT has the bot.
import { createHmac } from 'node:crypto';
import { expect, test, type Browser, type Page } from '@playwright/test';

const MARKET = process.env.E2E_MARKET ?? 'BTC_USDT';
const LIVE_MARKET = process.env.E2E_LIVE_MARKET ?? 'BTC_USDT';
const SHOTS = 'test-results/screenshots';
const run = Date.now().toString(36);
const PASSWORD = 'a-long-password-9';
// A price of this run's own, so a stack reused across runs shows no earlier level there.
const stamp = Date.now();
const PRICE = `${100 + (stamp % 800)}.${String(11 + (stamp % 8) * 11)}`;
const LOW = `${50 + (stamp % 40)}`;

test.describe.configure({ mode: 'serial' });

let alice: Page;
let bob: Page;

async function newTrader(browser: Browser): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (error) => console.log(`[page error] ${error.message}`));
  return page;
}

async function signUp(page: Page, name: string): Promise<void> {
  await page.goto('/signup');
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.waitForURL(/\/trade\//);
  await expect(page.getByTestId('username')).toHaveText(name);
}

async function openTrade(page: Page, symbol: string): Promise<void> {
  await page.goto(`/trade/${symbol}`);
  await expect(page.getByTestId('trade-page')).toHaveAttribute('data-symbol', symbol);
  await expect(page.getByTestId('connection-state')).toHaveAttribute('data-state', 'open');
}

async function placeLimit(page: Page, side: 'Buy' | 'Sell', price: string, quantity: string) {
  const form = page.getByTestId('order-form');
  await form.getByRole('button', { name: side, exact: true }).click();
  await form.getByRole('button', { name: 'Limit', exact: true }).click();
  await form.getByLabel('Price', { exact: true }).fill(price);
  await form.getByLabel('Quantity', { exact: true }).fill(quantity);
  await form.getByRole('button', { name: new RegExp(`^${side} `) }).click();
}

async function userTab(page: Page, name: RegExp | string) {
  await page.getByRole('tablist', { name: 'Your account' }).getByRole('tab', { name }).click();
}

test.beforeAll(async ({ browser }) => {
  alice = await newTrader(browser);
  bob = await newTrader(browser);
});

test.afterAll(async () => {
  await alice?.context().close();
  await bob?.context().close();
});

test('a new trader signs up and sees the demo balances', async () => {
  await signUp(alice, `alice${run}`);
  await alice.goto('/balances');
  const usdt = alice.getByTestId('balance-USDT');
  await expect(usdt).toHaveAttribute('data-available', '10000');
  await expect(usdt.getByTestId('available')).toHaveText('10,000');
  await expect(alice.getByTestId('balance-BTC')).toHaveAttribute('data-available', '1');
  await alice.screenshot({ path: `${SHOTS}/01-signup-balances.png`, fullPage: true });
});

test('a limit order shows in open orders and in the book', async () => {
  await openTrade(alice, MARKET);
  await placeLimit(alice, 'Buy', PRICE, '0.5');
  await expect(alice.getByTestId('order-success')).toContainText(/Buy order #\d+ new/);
  const row = alice.getByRole('table', { name: 'Open orders' }).getByTestId('order-row');
  await expect(row).toHaveCount(1);
  await expect(row).toContainText(PRICE);
  await expect(alice.locator(`[data-testid="book-bid"][data-price="${PRICE}"]`)).toContainText('0.5');
  await alice.screenshot({ path: `${SHOTS}/02-limit-order-open-and-in-book.png`, fullPage: true });
});

test('a second trader crosses it: fill, trade and balances update live', async () => {
  await userTab(alice, 'Balances');
  const aliceBtc = alice.getByTestId('balance-BTC');
  await expect(aliceBtc).toHaveAttribute('data-available', '1');

  await signUp(bob, `bob${run}`);
  await openTrade(bob, MARKET);
  await expect(bob.locator(`[data-testid="book-bid"][data-price="${PRICE}"]`)).toBeVisible();
  await placeLimit(bob, 'Sell', PRICE, '0.2');
  await expect(bob.getByTestId('order-success')).toContainText(/filled 0\.2/);

  // Alice's page was not reloaded: her balances, trades and fills follow live.
  await expect(aliceBtc).not.toHaveAttribute('data-available', '1');
  const btc = await aliceBtc.getAttribute('data-available');
  expect(Number(btc)).toBeGreaterThan(1.19); // 1 + 0.2 minus the maker fee
  await expect(alice.locator(`[data-testid="recent-trade"][data-price="${PRICE}"]`).first()).toBeVisible();
  await expect(alice.locator(`[data-testid="book-bid"][data-price="${PRICE}"]`)).toContainText('0.3');
  await userTab(alice, 'Fills');
  await expect(alice.getByTestId('fill-row').first()).toContainText(PRICE);
  await alice.screenshot({ path: `${SHOTS}/03-maker-sees-fill-live.png`, fullPage: true });
  await bob.screenshot({ path: `${SHOTS}/03-taker-after-crossing.png`, fullPage: true });
});

test('orders are cancelled one by one and all at once', async () => {
  await userTab(alice, /Open orders/);
  const rows = alice.getByRole('table', { name: 'Open orders' }).getByTestId('order-row');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toHaveAttribute('data-status', 'partially_filled');
  await rows.first().getByRole('button', { name: /Cancel order/ }).click();
  await expect(rows).toHaveCount(0);
  await expect(alice.locator(`[data-testid="book-bid"][data-price="${PRICE}"]`)).toHaveCount(0);

  await placeLimit(alice, 'Buy', LOW, '0.1');
  await placeLimit(alice, 'Buy', `${Number(LOW) + 1}`, '0.1');
  await expect(rows).toHaveCount(2);
  await alice.getByRole('button', { name: 'Cancel all' }).click();
  await expect(alice.getByText(/No open orders in/)).toBeVisible();
  await alice.screenshot({ path: `${SHOTS}/04-orders-cancelled.png`, fullPage: true });
});

test('a stop-limit order waits pending with its stop price, is amended, and an OCO list places two linked orders', async () => {
  const form = alice.getByTestId('order-form');
  const rows = alice.getByRole('table', { name: 'Open orders' }).getByTestId('order-row');
  const stop = `${Number(LOW) + 5}`; // below the last trade (PRICE): a sell stop-loss
  await form.getByRole('button', { name: 'Sell', exact: true }).click();
  await form.getByRole('button', { name: 'Stop-limit', exact: true }).click();
  await expect(form.getByTestId('order-kind-hint')).toContainText('falls to or below');
  await form.getByLabel('Stop price', { exact: true }).fill(stop);
  await form.getByLabel('Price', { exact: true }).fill(`${Number(LOW) + 4}`);
  await form.getByLabel('Quantity', { exact: true }).fill('0.1');
  await form.getByRole('button', { name: /^Sell / }).click();
  await expect(alice.getByTestId('order-success')).toContainText(/Sell order #\d+ pending/);
  await expect(rows).toHaveCount(1);
  const row = rows.first();
  await expect(row).toHaveAttribute('data-status', 'pending');
  await expect(row.getByTestId('stop-price')).toHaveText(stop);
  await expect(alice.locator(`[data-testid="book-ask"][data-price="${Number(LOW) + 4}"]`)).toHaveCount(0); // off the book
  const orderId = await row.getAttribute('data-order-id');

  // amend it: a smaller quantity
  await row.getByRole('button', { name: `Amend order ${orderId}` }).click();
  await row.getByLabel(`New quantity of order ${orderId}`).fill('0.05');
  await row.getByRole('button', { name: 'Save' }).click();
  await expect(row).toContainText('0 / 0.05');
  await expect(row).toHaveAttribute('data-status', 'pending');
  await alice.screenshot({ path: `${SHOTS}/05-stop-order-pending-amended.png`, fullPage: true });

  // an OCO list: take profit above the market, stop-loss below, as a stop-market
  await form.getByRole('button', { name: 'OCO', exact: true }).click();
  await form.getByLabel('Price', { exact: true }).fill(`${Number(PRICE.split('.')[0]) + 50}`);
  await form.getByLabel('Stop price', { exact: true }).fill(`${Number(LOW) + 3}`);
  await form.getByLabel('Quantity', { exact: true }).fill('0.1');
  await form.getByRole('button', { name: /^Sell / }).click();
  await expect(alice.getByTestId('order-success')).toContainText(/OCO list #\d+ placed: limit order #\d+ new, stop order #\d+ pending/);
  await expect(rows).toHaveCount(3);
  await expect(alice.getByRole('table', { name: 'Open orders' }).getByTestId('order-list')).toHaveCount(2);
  await expect(rows.filter({ hasText: 'stop-market' })).toHaveAttribute('data-status', 'pending');
  await alice.screenshot({ path: `${SHOTS}/05-oco-list.png`, fullPage: true });

  await alice.getByRole('button', { name: 'Cancel all' }).click();
  await expect(alice.getByText(/No open orders in/)).toBeVisible();
});

test('an order above the balance gets a readable error', async () => {
  await placeLimit(alice, 'Buy', '100', '1000');
  await expect(alice.getByTestId('order-error')).toContainText('Insufficient balance');
  await alice.screenshot({ path: `${SHOTS}/05-insufficient-balance.png`, fullPage: true });
});

test('form values snap to tick and lot, a book price fills the form', async () => {
  const form = alice.getByTestId('order-form');
  await form.getByLabel('Price', { exact: true }).fill('100.256');
  await form.getByLabel('Quantity', { exact: true }).fill('0.123456789');
  await form.getByLabel('Quantity', { exact: true }).blur();
  await expect(form.getByLabel('Price', { exact: true })).toHaveValue('100.26');
  await expect(form.getByLabel('Quantity', { exact: true })).toHaveValue(/^0\.12345/);
  await openTrade(alice, LIVE_MARKET);
  const bestAsk = alice.getByTestId('book-ask').last();
  await expect(bestAsk).toBeVisible();
  // read the price and click in one task of the page: the market maker requotes every
  // second, and the row may re-render between a separate read and click
  const price = await bestAsk.evaluate((row) => {
    (row.querySelector('button') as HTMLButtonElement).click();
    return row.getAttribute('data-price');
  });
  await expect(alice.getByTestId('order-form').getByLabel('Price', { exact: true })).toHaveValue(new RegExp(`^${price!.replace('.', '\\.')}`));
  await alice.screenshot({ path: `${SHOTS}/06-live-market-trade-page.png`, fullPage: true });
});

test('the markets overview lists every market', async () => {
  await alice.goto('/');
  await expect(alice.getByTestId(`market-${LIVE_MARKET}`)).toBeVisible();
  await expect(alice.getByTestId(`market-${MARKET}`)).toBeVisible();
  await alice.screenshot({ path: `${SHOTS}/07-markets.png`, fullPage: true });
});

/** A signed GET of our /api/v1 with an API key, as a Binance client signs it. */
async function signedGet(page: Page, path: string, apiKey: string, secret: string) {
  const query = `timestamp=${Date.now()}`;
  const signature = createHmac('sha256', secret).update(query).digest('hex');
  return page.request.get(`${path}?${query}&signature=${signature}`, { headers: { 'X-MBX-APIKEY': apiKey } });
}

test('an API key is created with its secret shown once, signs requests, and is revoked', async ({ browser }) => {
  const carol = await newTrader(browser); // a trader of this test's own
  await carol.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  await signUp(carol, `carol${run}`);
  await carol.goto('/balances');
  await carol.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API keys' }).click();
  await carol.waitForURL(/\/api-keys$/);
  await expect(carol.getByText('No API keys yet.')).toBeVisible();

  const form = carol.getByTestId('create-api-key');
  await form.getByLabel('Label').fill(`bot ${run}`);
  await form.getByRole('checkbox', { name: /^Trade/ }).check();
  await form.getByLabel(/Allowed IP addresses/).fill('127.0.0.1, ::1');
  await form.getByRole('button', { name: 'Create key' }).click();

  const created = carol.getByTestId('new-api-key');
  await expect(created).toBeVisible();
  const apiKey = (await created.getByTestId('new-api-key-key').textContent()) ?? '';
  const secret = (await created.getByTestId('new-api-key-secret').textContent()) ?? '';
  expect(apiKey).toMatch(/^[A-Za-z0-9]{64}$/);
  expect(secret).toMatch(/^[A-Za-z0-9]{64}$/);
  await created.getByRole('button', { name: 'Copy secret' }).click();
  await expect(created.getByRole('button', { name: 'Copy secret' })).toHaveText('Copied');
  expect(await carol.evaluate(() => navigator.clipboard.readText())).toBe(secret);
  const row = carol.getByRole('table', { name: 'API keys' }).getByTestId('api-key-row');
  await expect(row).toHaveCount(1);
  await expect(row).toHaveAttribute('data-api-key', apiKey);
  await expect(row).toContainText('read, trade');
  await expect(row).toContainText('127.0.0.1/32, ::1/128');
  await carol.screenshot({ path: `${SHOTS}/08-api-key-created.png`, fullPage: true });

  // the key works for a bot: a signed request reads Alice's balances
  const balances = await signedGet(carol, '/api/v1/balances', apiKey, secret);
  expect(balances.status()).toBe(200);
  expect((await balances.json()).map((b: { asset: string }) => b.asset)).toContain('USDT');

  // once dismissed (or after a reload) the secret is gone from the page
  await created.getByRole('button', { name: 'I have stored the secret' }).click();
  await expect(created).toHaveCount(0);
  await carol.reload();
  await expect(row).toHaveCount(1);
  await expect(row).not.toContainText('never'); // last used: the signed request above
  expect(await carol.content()).not.toContain(secret);

  await row.getByRole('button', { name: `Revoke bot ${run}` }).click();
  await row.getByRole('button', { name: `Confirm revoking bot ${run}` }).click();
  await expect(carol.getByText('No API keys yet.')).toBeVisible();
  const refused = await signedGet(carol, '/api/v1/balances', apiKey, secret);
  expect(refused.status()).toBe(401);
  expect((await refused.json()).error.details.binance_code).toBe(-2015);
  await carol.screenshot({ path: `${SHOTS}/09-api-key-revoked.png`, fullPage: true });
  await carol.context().close();
});
