'use client';
import { useState } from 'react';
import { api, describeError, type Order } from '@/lib/api';
import { useResource } from '@/lib/hooks/use-resource';
import { useUserData } from '@/lib/hooks/use-user-data';
import { useMarkets } from '@/lib/hooks/use-markets';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { FillsTable } from './fills-table';
import { OrdersTable } from './orders-table';
import { RequireLogin } from './require-login';

type Tab = 'open' | 'history' | 'fills';

function OrdersInner() {
  const [tab, setTab] = useState<Tab>('open');
  const [symbol, setSymbol] = useState('');
  const markets = useMarkets();
  const user = useUserData(symbol || undefined);
  const history = useResource<Order[]>(tab === 'history' ? () => api.orders('closed', symbol || undefined, 200) : null, [tab, symbol]);
  const [error, setError] = useState<string | null>(null);

  async function cancelAll() {
    setError(null);
    try {
      await api.cancelAll(symbol || undefined);
      user.refreshAll();
    } catch (e) {
      setError(describeError(e));
    }
  }

  const section = (r: { loading: boolean; error: unknown; reload: () => void; data: unknown[] | undefined }, table: React.ReactNode, empty: string) =>
    r.loading ? <Loading /> : r.error && !r.data ? <ErrorState error={r.error} onRetry={r.reload} /> : r.data?.length ? table : <Empty>{empty}</Empty>;

  return (
    <section className="panel">
      <header>
        <div className="tabs" role="tablist" aria-label="Orders">
          {([['open', 'Open orders'], ['history', 'Order history'], ['fills', 'Fills']] as [Tab, string][]).map(([k, l]) => (
            <button key={k} type="button" role="tab" aria-selected={tab === k} onClick={() => setTab(k)}>{l}</button>
          ))}
        </div>
        <div className="row">
          <label htmlFor="market-filter">Market</label>
          <select id="market-filter" value={symbol} onChange={(e) => setSymbol(e.target.value)} style={{ width: 'auto' }}>
            <option value="">All</option>
            {(markets.data ?? []).map((m) => <option key={m.symbol} value={m.symbol}>{m.base}/{m.quote}</option>)}
          </select>
          {tab === 'open' && !!user.openOrders.data?.length && (
            <button type="button" className="small" onClick={cancelAll}>Cancel all</button>
          )}
        </div>
      </header>
      <div className="body">
        {error && <div className="alert error" role="alert">{error}</div>}
        {tab === 'open' && section(user.openOrders, <OrdersTable orders={user.openOrders.data ?? []} onChanged={user.refreshAll} label="Open orders" />, 'No open orders.')}
        {tab === 'history' && section(history, <OrdersTable orders={history.data ?? []} label="Order history" />, 'No closed orders yet.')}
        {tab === 'fills' && section(user.fills, <FillsTable fills={user.fills.data ?? []} />, 'No fills yet.')}
      </div>
    </section>
  );
}

export function OrdersView() {
  return (
    <RequireLogin what="your orders">
      <OrdersInner />
    </RequireLogin>
  );
}
