'use client';
import { useState } from 'react';
import { api, ApiError, type Ticker } from '@/lib/api';
import { changeDirection, formatCompact, formatDecimal, formatPercent, stepDecimals } from '@/lib/decimal';
import { useMarkets } from '@/lib/hooks/use-markets';
import { useResource } from '@/lib/hooks/use-resource';
import { useChannel, useConnectionState } from '@/lib/hooks/use-socket';
import { Empty, ErrorState, Loading } from '@/components/ui/states';

function TickerSubscription({ symbol, onTicker }: { symbol: string; onTicker: (t: Ticker) => void }) {
  useChannel(`ticker.${symbol}`, (m) => {
    if (m.data) onTicker({ symbol, ...(m.data as Omit<Ticker, 'symbol'>) });
  });
  return null;
}

export function MarketsTable() {
  const markets = useMarkets();
  const live = useConnectionState() === 'open';
  const tickers = useResource<Record<string, Ticker> | null>(
    async () => {
      try {
        const list = await api.tickers();
        return Object.fromEntries(list.map((t) => [t.symbol, t]));
      } catch (e) {
        if (e instanceof ApiError && e.isMissing) return null; // not built yet (issue 4)
        throw e;
      }
    },
    [],
    live ? null : 5000,
  );
  const [liveTickers, setLiveTickers] = useState<Record<string, Ticker>>({});

  if (markets.loading) return <Loading label="Loading markets…" />;
  if (markets.error) return <ErrorState error={markets.error} onRetry={markets.reload} />;
  const list = markets.data ?? [];
  if (!list.length) return <Empty>No markets yet. An admin adds them with manage.py add_market.</Empty>;

  return (
    <>
      {list.map((m) => (
        <TickerSubscription
          key={m.symbol}
          symbol={m.symbol}
          onTicker={(t) => setLiveTickers((cur) => ({ ...cur, [m.symbol]: { ...cur[m.symbol], ...t } }))}
        />
      ))}
      {tickers.data === null && (
        <div className="alert info">24 h statistics are not available yet on this server.</div>
      )}
      {tickers.error ? <ErrorState error={tickers.error} onRetry={tickers.reload} /> : null}
      <table className="markets-table" aria-label="Markets">
        <thead>
          <tr>
            <th>Market</th>
            <th className="r">Last price</th>
            <th className="r">24 h change</th>
            <th className="r">24 h high</th>
            <th className="r">24 h low</th>
            <th className="r">24 h volume</th>
            <th>Status</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {list.map((m) => {
            const t = liveTickers[m.symbol] ?? tickers.data?.[m.symbol];
            const dp = stepDecimals(m.tick_size);
            const change = t?.change_percent;
            const dir = changeDirection(change);
            return (
              <tr key={m.symbol} data-testid={`market-${m.symbol}`}>
                <td>
                  <a href={`/trade/${m.symbol}`}>
                    {m.base}/{m.quote}
                  </a>
                </td>
                <td className="r num" data-testid="last">{t?.last ? formatDecimal(t.last, dp) : '—'}</td>
                <td className={`r num ${dir}`}>{change ? formatPercent(change) : '—'}</td>
                <td className="r num">{t?.high ? formatDecimal(t.high, dp) : '—'}</td>
                <td className="r num">{t?.low ? formatDecimal(t.low, dp) : '—'}</td>
                <td className="r num">
                  {t?.volume ? `${formatCompact(t.volume)} ${m.base}` : '—'}
                </td>
                <td className={m.status === 'trading' ? 'up' : 'down'}>{m.status}</td>
                <td>
                  <a href={`/trade/${m.symbol}`} className="btn" aria-label={`Trade ${m.base}/${m.quote}`}>
                    Trade
                  </a>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </>
  );
}
