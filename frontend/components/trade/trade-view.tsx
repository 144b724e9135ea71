'use client';
import { useCallback, useEffect, useState } from 'react';
import { useMarkets } from '@/lib/hooks/use-markets';
import { useOrderBook, useRecentTrades, useTicker } from '@/lib/hooks/use-market-data';
import { useUserData } from '@/lib/hooks/use-user-data';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { OrderBookPanel } from './order-book-panel';
import { OrderForm, type PickedPrice } from './order-form';
import { PriceChart } from './price-chart';
import { RecentTrades } from './recent-trades';
import { TickerBar } from './ticker-bar';
import { UserPanel } from './user-panel';

/** The symbol from the address: the static export has one page for every /trade/<SYMBOL>. */
function useSymbolFromPath(): string | null | undefined {
  const [symbol, setSymbol] = useState<string | null | undefined>(undefined);
  useEffect(() => {
    const m = window.location.pathname.match(/^\/trade\/([^/]+)\/?$/);
    const s = m ? decodeURIComponent(m[1]).toUpperCase() : null;
    setSymbol(s && s !== '_' ? s : null);
  }, []);
  return symbol;
}

export function TradeView() {
  const pathSymbol = useSymbolFromPath();
  const markets = useMarkets();
  const market =
    pathSymbol === undefined || !markets.data
      ? undefined
      : (pathSymbol ? markets.data.find((m) => m.symbol === pathSymbol) : markets.data[0]) ?? null;
  const symbol = market?.symbol ?? null;

  const { book, loading: bookLoading, error: bookError, reload: reloadBook } = useOrderBook(symbol);
  const trades = useRecentTrades(symbol);
  const ticker = useTicker(symbol);
  const user = useUserData(symbol ?? undefined);
  const [picked, setPicked] = useState<PickedPrice | null>(null);

  const afterOwnAction = useCallback(() => {
    user.refreshAll();
    void reloadBook();
    void trades.reload();
  }, [user, reloadBook, trades]);

  useEffect(() => {
    if (market) document.title = `${market.base}/${market.quote} · Exchange`;
  }, [market]);

  if (pathSymbol === undefined || markets.loading) return <Loading label="Loading the market…" />;
  if (markets.error) return <main className="page"><ErrorState error={markets.error} onRetry={markets.reload} /></main>;
  if (!market) {
    return (
      <main className="page">
        <h1>Market not found</h1>
        <Empty>
          There is no market {pathSymbol}. See <a href="/">all markets</a>.
        </Empty>
      </main>
    );
  }

  const lastPrice = trades.data?.[0]?.price ?? null;
  const bestBid = book?.bids[0]?.[0] ?? null;
  const bestAsk = book?.asks[0]?.[0] ?? null;

  return (
    <main data-testid="trade-page" data-symbol={market.symbol}>
      <TickerBar market={market} ticker={ticker.data} lastPrice={lastPrice} />
      <div className="trade-grid">
        <PriceChart market={market} />
        <OrderBookPanel
          market={market}
          book={book}
          loading={bookLoading}
          error={bookError}
          onRetry={reloadBook}
          onPickPrice={(price) => setPicked({ price, nonce: Date.now() })}
          lastPrice={ticker.data?.last ?? lastPrice}
        />
        <RecentTrades market={market} trades={trades} />
        <OrderForm
          market={market}
          balances={user.balances.data}
          loggedIn={!!user.session}
          bestBid={bestBid}
          bestAsk={bestAsk}
          picked={picked}
          onPlaced={afterOwnAction}
        />
        <UserPanel market={market} user={user} onChanged={afterOwnAction} />
      </div>
    </main>
  );
}
