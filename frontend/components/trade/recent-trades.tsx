'use client';
import type { Market, PublicTrade } from '@/lib/api';
import { formatDecimal, stepDecimals } from '@/lib/decimal';
import { formatTime } from '@/lib/format/time';
import type { Resource } from '@/lib/hooks/use-resource';
import { Empty, ErrorState, Loading, Unavailable } from '@/components/ui/states';

export function RecentTrades({ market, trades }: { market: Market; trades: Resource<PublicTrade[] | null> }) {
  const dp = stepDecimals(market.tick_size);
  const qdp = stepDecimals(market.lot_size);
  let body: React.ReactNode;
  if (trades.loading) body = <Loading label="Loading trades…" />;
  else if (trades.error && !trades.data) body = <ErrorState error={trades.error} onRetry={trades.reload} />;
  else if (trades.data === null) body = <Unavailable what="The public trade history" />;
  else if (!trades.data?.length) body = <Empty>No trades yet in this market.</Empty>;
  else
    body = (
      <table aria-label="Recent trades" data-testid="recent-trades">
        <thead>
          <tr>
            <th>Price ({market.quote})</th>
            <th className="r">Amount ({market.base})</th>
            <th className="r">Time</th>
          </tr>
        </thead>
        <tbody>
          {trades.data.map((t) => (
            <tr key={t.id} data-testid="recent-trade" data-price={t.price} data-quantity={t.quantity}>
              <td className={`num ${t.taker_side === 'buy' ? 'buy' : 'sell'}`}>{formatDecimal(t.price, dp)}</td>
              <td className="r num">{formatDecimal(t.quantity, qdp)}</td>
              <td className="r num muted">{formatTime(t.time)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    );
  return (
    <section className="panel trades" aria-labelledby="trades-title">
      <header>
        <h2 id="trades-title">Recent trades</h2>
      </header>
      <div className="body">{body}</div>
    </section>
  );
}
