'use client';
import { useEffect, useState } from 'react';
import { api, ApiError, type Level, type PublicTrade, type Ticker } from '../api';
import { getSocket } from '../ws/client';
import { subscribeDepth } from '../ws/depth';
import { useChannel, useConnectionState } from './use-socket';
import { useResource } from './use-resource';

export interface BookView {
  bids: Level[];
  asks: Level[];
  sequence: number | null;
  source: 'ws' | 'rest';
}

const BOOK_LEVELS = 50;

/** The order book: a REST snapshot at once, then the depth channel; REST polling while the
 * socket is not live. */
export function useOrderBook(symbol: string | null) {
  const live = useConnectionState() === 'open';
  const rest = useResource(symbol ? () => api.depth(symbol, BOOK_LEVELS) : null, [symbol], live ? 15_000 : 2000);
  const [wsBook, setWsBook] = useState<BookView | null>(null);
  useEffect(() => {
    setWsBook(null);
    if (!symbol) return;
    return subscribeDepth(getSocket(), symbol, (book) =>
      setWsBook({ bids: book.levels('bids', BOOK_LEVELS), asks: book.levels('asks', BOOK_LEVELS), sequence: book.sequence, source: 'ws' }),
    );
  }, [symbol]);
  useEffect(() => {
    if (!live) setWsBook(null); // stale until the next snapshot
  }, [live]);
  const restBook: BookView | null = rest.data
    ? { bids: rest.data.bids, asks: rest.data.asks, sequence: rest.data.sequence, source: 'rest' }
    : null;
  // The newer of the two (a REST read right after our own order can be ahead of the stream).
  const book =
    wsBook && (!restBook || (wsBook.sequence ?? 0) >= (restBook.sequence ?? 0)) ? wsBook : restBook ?? wsBook;
  return { book, loading: rest.loading && !wsBook, error: wsBook ? null : rest.error, reload: rest.reload };
}

/** Recent public trades, newest first. `missing` when the endpoint does not exist yet. */
export function useRecentTrades(symbol: string | null) {
  const live = useConnectionState() === 'open';
  const rest = useResource<PublicTrade[] | null>(
    symbol
      ? async () => {
          try {
            return await api.trades(symbol, 50);
          } catch (e) {
            if (e instanceof ApiError && e.isMissing) return null;
            throw e;
          }
        }
      : null,
    [symbol],
    live ? null : 3000,
  );
  useChannel(
    symbol ? `trades.${symbol}` : null,
    (m) => {
      if (m.type === 'error' || !m.data) return;
      const incoming = (Array.isArray(m.data) ? m.data : [m.data]) as PublicTrade[];
      rest.set((list) => {
        const current = list ?? [];
        const fresh = incoming.filter((t) => !current.some((c) => c.id === t.id));
        return [...fresh.reverse(), ...current].slice(0, 100);
      });
    },
    () => void rest.reload(),
  );
  return rest;
}

/** The 24 h ticker, REST then the ticker channel. null when not available yet. */
export function useTicker(symbol: string | null) {
  const live = useConnectionState() === 'open';
  const rest = useResource<Ticker | null>(
    symbol
      ? async () => {
          try {
            return await api.ticker(symbol);
          } catch (e) {
            if (e instanceof ApiError && e.isMissing) return null;
            throw e;
          }
        }
      : null,
    [symbol],
    live ? null : 5000,
  );
  useChannel(symbol ? `ticker.${symbol}` : null, (m) => {
    if (m.type === 'error' || !m.data || !symbol) return;
    rest.set((cur) => ({ ...(cur ?? ({} as Ticker)), ...(m.data as Ticker), symbol }));
  });
  return rest;
}
