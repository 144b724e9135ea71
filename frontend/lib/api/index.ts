// Typed access to the REST contract (docs/api.md). Components call these only.
import { request } from './client';
import type {
  AmendOrderInput,
  ApiKey,
  Balance,
  CreateApiKeyInput,
  CreatedApiKey,
  Depth,
  Fill,
  Kline,
  KlineInterval,
  Market,
  Order,
  OrderList,
  Page,
  PlaceOrderInput,
  PlaceOrderListInput,
  PlacedOrder,
  PublicTrade,
  Ticker,
} from './types';

export * from './types';
export { ApiError, describeError } from './errors';
export { configureAuth, API_ORIGIN } from './client';

function results<T>(data: Page<T> | T[]): T[] {
  return Array.isArray(data) ? data : data.results;
}

export const api = {
  register: (username: string, password: string, email?: string) =>
    request<{ user_id: number; username: string; token: string }>('/auth/register', {
      method: 'POST',
      body: email ? { username, password, email } : { username, password },
      auth: false,
    }),
  login: (username: string, password: string) =>
    request<{ token: string }>('/auth/token', {
      method: 'POST',
      body: { username, password },
      auth: false,
    }),
  logout: () => request<null>('/auth/logout', { method: 'POST' }),
  me: () => request<{ user_id: number; username: string }>('/auth/me'),

  markets: () => request<Market[]>('/markets', { auth: false }),
  depth: (symbol: string, limit = 50) =>
    request<Depth>(`/markets/${encodeURIComponent(symbol)}/depth`, { query: { limit }, auth: false }),
  trades: async (symbol: string, limit = 50) =>
    results(
      await request<Page<PublicTrade> | PublicTrade[]>(
        `/markets/${encodeURIComponent(symbol)}/trades`,
        { query: { limit }, auth: false },
      ),
    ),
  klines: async (symbol: string, interval: KlineInterval, limit = 300) =>
    results(
      await request<Page<Kline> | Kline[]>(`/markets/${encodeURIComponent(symbol)}/klines`, {
        query: { interval, limit },
        auth: false,
      }),
    ),
  ticker: (symbol: string) =>
    request<Ticker>(`/markets/${encodeURIComponent(symbol)}/ticker`, { auth: false }),
  tickers: async () => results(await request<Page<Ticker> | Ticker[]>('/tickers', { auth: false })),

  balances: async () => results(await request<Page<Balance> | Balance[]>('/balances')),
  orders: async (status: 'open' | 'closed' | 'all', symbol?: string, limit = 100) =>
    results(await request<Page<Order> | Order[]>('/orders', { query: { status, symbol, limit } })),
  placeOrder: (input: PlaceOrderInput) =>
    request<PlacedOrder>('/orders', { method: 'POST', body: input }),
  cancelOrder: (id: number) => request<Order>(`/orders/${id}`, { method: 'DELETE' }),
  amendOrder: (id: number, input: AmendOrderInput) =>
    request<Order>(`/orders/${id}`, { method: 'PATCH', body: input }),
  placeOrderList: (input: PlaceOrderListInput) =>
    request<OrderList>('/order-lists', { method: 'POST', body: input }),
  orderList: (id: number) => request<OrderList>(`/order-lists/${id}`),
  cancelOrderList: (id: number) => request<OrderList>(`/order-lists/${id}`, { method: 'DELETE' }),
  cancelAll: async (symbol?: string) =>
    request<Order[] | Page<Order>>('/orders', { method: 'DELETE', query: { symbol } }),
  fills: async (symbol?: string, limit = 100) =>
    results(await request<Page<Fill> | Fill[]>('/trades', { query: { symbol, limit } })),

  apiKeys: () => request<ApiKey[]>('/api-keys'),
  createApiKey: (input: CreateApiKeyInput) =>
    request<CreatedApiKey>('/api-keys', { method: 'POST', body: input }),
  revokeApiKey: (id: number) => request<null>(`/api-keys/${id}`, { method: 'DELETE' }),
};
