'use client';
import { useCallback, useEffect, useRef } from 'react';
import { api, isOpen, type Balance, type Fill, type Order } from '../api';
import { useSession } from '../session';
import { useChannel, useConnectionState } from './use-socket';
import { useResource } from './use-resource';

const POLL_MS = 3000; // REST polling while the WebSocket is not live
const SAFETY_POLL_MS = 15_000; // and a slow reconciliation while it is

interface UserEvent {
  event?: 'order' | 'triggered' | 'fill' | 'balance';
  order?: Order;
  fill?: Fill;
  balance?: Balance;
  [key: string]: unknown;
}

function payload<T>(data: UserEvent, key: 'order' | 'fill' | 'balance'): T {
  return (data[key] ?? data) as T;
}

export function upsertOrder(list: Order[] | undefined, order: Order, symbol?: string): Order[] | undefined {
  if (!list) return list;
  if (symbol && order.symbol !== symbol) return list;
  const rest = list.filter((o) => o.id !== order.id);
  return isOpen(order) ? [order, ...rest].sort((a, b) => b.id - a.id) : rest;
}

/** The logged-in trader's balances, open orders and fills (optionally of one market),
 * live from the "user" channel, refreshed over REST after each event and on every
 * (re)subscription, and polled while the socket is down. */
export function useUserData(symbol?: string) {
  const session = useSession();
  const token = session?.token ?? null;
  const live = useConnectionState() === 'open';
  const poll = token ? (live ? SAFETY_POLL_MS : POLL_MS) : null;

  const balances = useResource<Balance[]>(token ? () => api.balances() : null, [token], poll);
  const openOrders = useResource<Order[]>(token ? () => api.orders('open', symbol) : null, [token, symbol], poll);
  const fills = useResource<Fill[]>(token ? () => api.fills(symbol, 50) : null, [token, symbol], poll);

  const refreshTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const refreshAll = useCallback(() => {
    if (refreshTimer.current) clearTimeout(refreshTimer.current);
    refreshTimer.current = setTimeout(() => {
      void balances.reload();
      void openOrders.reload();
      void fills.reload();
    }, 250);
  }, [balances.reload, openOrders.reload, fills.reload]);
  useEffect(() => () => {
    if (refreshTimer.current) clearTimeout(refreshTimer.current);
  }, []);

  useChannel(
    token ? 'user' : null,
    (message) => {
      if (message.type === 'error') return;
      const data = (message.data ?? {}) as UserEvent;
      if (data.event === 'order' || data.event === 'triggered') {
        const order = payload<Order>(data, 'order');
        openOrders.set((list) => upsertOrder(list, order, symbol));
      } else if (data.event === 'fill') {
        const fill = payload<Fill>(data, 'fill');
        if (!symbol || fill.symbol === symbol)
          fills.set((list) => (list && !list.some((f) => f.id === fill.id) ? [fill, ...list] : list));
      } else if (data.event === 'balance') {
        const b = payload<Balance>(data, 'balance');
        balances.set((list) => (list ? [...list.filter((x) => x.asset !== b.asset), b].sort((x, y) => x.asset.localeCompare(y.asset)) : list));
      }
      refreshAll(); // the read model is the truth; events make the screen instant
    },
    refreshAll, // (re)subscribed: events may have been missed
  );

  return { session, balances, openOrders, fills, refreshAll };
}
