'use client';
import { useState } from 'react';
import { api, describeError, type Market } from '@/lib/api';
import type { useUserData } from '@/lib/hooks/use-user-data';
import { OrdersTable } from '@/components/account/orders-table';
import { FillsTable } from '@/components/account/fills-table';
import { BalancesTable } from '@/components/account/balances-table';
import { Empty, ErrorState, Loading } from '@/components/ui/states';

type Tab = 'open' | 'fills' | 'balances';

export function UserPanel({ market, user, onChanged }: { market: Market; user: ReturnType<typeof useUserData>; onChanged: () => void }) {
  const [tab, setTab] = useState<Tab>('open');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const open = user.openOrders.data ?? [];

  async function cancelAll() {
    setError(null);
    setBusy(true);
    try {
      await api.cancelAll(market.symbol);
      onChanged();
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  }

  let body: React.ReactNode;
  if (!user.session) {
    body = (
      <Empty>
        <a href={`/login?next=/trade/${market.symbol}`}>Log in</a> to see your orders, fills and balances.
      </Empty>
    );
  } else if (tab === 'open') {
    const r = user.openOrders;
    body = r.loading ? <Loading /> : r.error && !r.data ? <ErrorState error={r.error} onRetry={r.reload} /> : open.length ? (
      <OrdersTable orders={open} onChanged={onChanged} showSymbol={false} label="Open orders" />
    ) : (
      <Empty>No open orders in {market.base}/{market.quote}.</Empty>
    );
  } else if (tab === 'fills') {
    const r = user.fills;
    body = r.loading ? <Loading /> : r.error && !r.data ? <ErrorState error={r.error} onRetry={r.reload} /> : r.data?.length ? (
      <FillsTable fills={r.data} showSymbol={false} />
    ) : (
      <Empty>No fills yet in this market.</Empty>
    );
  } else {
    const r = user.balances;
    body = r.loading ? <Loading /> : r.error && !r.data ? <ErrorState error={r.error} onRetry={r.reload} /> : r.data?.length ? (
      <BalancesTable balances={r.data} />
    ) : (
      <Empty>No balances.</Empty>
    );
  }

  return (
    <section className="panel user" aria-label="Your orders, fills and balances">
      <header>
        <div className="tabs" role="tablist" aria-label="Your account">
          {(
            [
              ['open', `Open orders (${open.length})`],
              ['fills', 'Fills'],
              ['balances', 'Balances'],
            ] as [Tab, string][]
          ).map(([key, label]) => (
            <button key={key} type="button" role="tab" aria-selected={tab === key} onClick={() => setTab(key)}>
              {label}
            </button>
          ))}
        </div>
        {tab === 'open' && open.length > 0 && (
          <button type="button" className="small" onClick={cancelAll} disabled={busy}>
            {busy ? 'Cancelling…' : 'Cancel all'}
          </button>
        )}
      </header>
      <div className="body">
        {error && <div className="alert error" role="alert">{error}</div>}
        {body}
      </div>
    </section>
  );
}
