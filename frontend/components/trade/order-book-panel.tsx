'use client';
import { useMemo, useState } from 'react';
import type { Market } from '@/lib/api';
import { Decimal, formatDecimal, stepDecimals } from '@/lib/decimal';
import { aggregate, spread } from '@/lib/ws/order-book';
import type { BookView } from '@/lib/hooks/use-market-data';
import { ErrorState, Loading } from '@/components/ui/states';

const ROWS = 11;

function groupings(tick: string): string[] {
  const t = new Decimal(tick);
  return [t, t.mul(10), t.mul(100), t.mul(1000)].map((d) => d.toFixed());
}

export function OrderBookPanel({
  market,
  book,
  loading,
  error,
  onRetry,
  onPickPrice,
  lastPrice,
}: {
  market: Market;
  book: BookView | null;
  loading: boolean;
  error: unknown;
  onRetry: () => void;
  onPickPrice: (price: string) => void;
  lastPrice: string | null;
}) {
  const [step, setStep] = useState(market.tick_size);
  const steps = useMemo(() => groupings(market.tick_size), [market.tick_size]);
  const dp = Math.max(stepDecimals(step), 0);
  const qdp = stepDecimals(market.lot_size);
  const asks = book ? aggregate(book.asks, 'asks', step === market.tick_size ? null : step, ROWS) : [];
  const bids = book ? aggregate(book.bids, 'bids', step === market.tick_size ? null : step, ROWS) : [];
  const s = book ? spread(book.bids[0]?.[0] ?? null, book.asks[0]?.[0] ?? null) : null;

  const row = (side: 'ask' | 'bid', level: (typeof asks)[number]) => (
    <tr
      key={`${side}-${level.price}`}
      className={`level ${side}`}
      data-testid={`book-${side}`}
      data-price={level.price}
      onClick={() => onPickPrice(level.price)}
    >
      <td className={`num ${side === 'ask' ? 'sell' : 'buy'}`}>
        <button type="button" aria-label={`Use price ${level.price}`} onClick={(e) => { e.stopPropagation(); onPickPrice(level.price); }}>
          {formatDecimal(level.price, dp)}
        </button>
      </td>
      <td className="r num"><span>{formatDecimal(level.quantity, qdp)}</span></td>
      <td className="r num">
        <span>{formatDecimal(level.total, qdp)}</span>
        <div className="bar" style={{ width: `${Math.round(level.depth * 100)}%` }} aria-hidden="true" />
      </td>
    </tr>
  );

  return (
    <section className="panel book" aria-labelledby="book-title">
      <header>
        <h2 id="book-title">Order book</h2>
        <label className="row">
          <span className="sr-only">Group prices by</span>
          <select value={step} onChange={(e) => setStep(e.target.value)} style={{ width: 'auto' }} aria-label="Group prices by">
            {steps.map((v) => (
              <option key={v} value={v}>{v}</option>
            ))}
          </select>
        </label>
      </header>
      <div className="body book-body">
        {loading && !book ? (
          <Loading label="Loading the book…" />
        ) : error && !book ? (
          <ErrorState error={error} onRetry={onRetry} />
        ) : (
          <>
            <table className="book-table" aria-label="Asks">
              <thead>
                <tr>
                  <th>Price ({market.quote})</th>
                  <th className="r">Amount ({market.base})</th>
                  <th className="r">Total</th>
                </tr>
              </thead>
              <tbody>{[...asks].reverse().map((l) => row('ask', l))}</tbody>
            </table>
            {!asks.length && <div className="state">No asks</div>}
            <div className="spread-row" data-testid="spread">
              <span className="num">{lastPrice ? formatDecimal(lastPrice, stepDecimals(market.tick_size)) : '—'}</span>
              <span className="muted num">
                Spread {s ? `${formatDecimal(s.value, stepDecimals(market.tick_size))} (${s.percent}%)` : '—'}
              </span>
            </div>
            <table className="book-table" aria-label="Bids">
              <tbody>{bids.map((l) => row('bid', l))}</tbody>
            </table>
            {!bids.length && <div className="state">No bids</div>}
          </>
        )}
      </div>
    </section>
  );
}
