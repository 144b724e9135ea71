import type { Market, Ticker } from '@/lib/api';
import { changeDirection, formatCompact, formatDecimal, formatPercent, stepDecimals } from '@/lib/decimal';

export function TickerBar({ market, ticker, lastPrice }: { market: Market; ticker: Ticker | null | undefined; lastPrice: string | null }) {
  const dp = stepDecimals(market.tick_size);
  const last = ticker?.last ?? lastPrice;
  const change = ticker?.change_percent ?? null;
  const dir = changeDirection(change);
  return (
    <div className="ticker-bar" aria-label="Market summary">
      <h1 className="symbol" style={{ margin: 0 }}>{market.symbol.replace("_", "/")}</h1>
      <div className={`stat last num ${dir}`} data-testid="last-price">{last ? formatDecimal(last, dp) : '—'}</div>
      <div className="stat"><span>24 h change</span><span className={`num ${dir}`}>{change ? formatPercent(change) : '—'}</span></div>
      <div className="stat"><span>24 h high</span><span className="num">{ticker?.high ? formatDecimal(ticker.high, dp) : '—'}</span></div>
      <div className="stat"><span>24 h low</span><span className="num">{ticker?.low ? formatDecimal(ticker.low, dp) : '—'}</span></div>
      <div className="stat"><span>24 h volume ({market.base})</span><span className="num">{ticker?.volume ? formatCompact(ticker.volume) : '—'}</span></div>
      {market.status !== 'trading' && <div className="stat down">Market {market.status}</div>}
    </div>
  );
}
