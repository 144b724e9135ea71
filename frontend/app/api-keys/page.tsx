import { ApiKeysView } from '@/components/account/api-keys-view';

export const metadata = { title: 'API keys · Exchange' };

export default function ApiKeysPage() {
  return (
    <main className="page">
      <h1>API keys</h1>
      <p className="muted">
        Keys let a bot trade for you with signed requests, as with Binance&rsquo;s API (X-MBX-APIKEY,
        timestamp, signature): <code>read</code> sees balances, orders and fills, <code>trade</code>{' '}
        places and cancels orders. The secret is shown once, when the key is created.
      </p>
      <ApiKeysView />
    </main>
  );
}
