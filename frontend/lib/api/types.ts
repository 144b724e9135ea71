// Wire shapes of the REST contract (docs/api.md). Decimals are strings.

export type Side = 'buy' | 'sell';
export type OrderType = 'limit' | 'market' | 'stop_limit' | 'stop_market';
export type TimeInForce = 'GTC' | 'IOC' | 'FOK';
export type OrderStatus =
  | 'pending'
  | 'new'
  | 'partially_filled'
  | 'filled'
  | 'cancelled'
  | 'expired';

export interface Market {
  symbol: string;
  base: string;
  quote: string;
  tick_size: string;
  lot_size: string;
  min_quantity: string;
  max_quantity: string;
  min_notional: string;
  maker_fee_bps: number;
  taker_fee_bps: number;
  status: string;
}

/** [price, quantity] */
export type Level = [string, string];

export interface Depth {
  symbol: string;
  sequence: number;
  bids: Level[];
  asks: Level[];
}

export interface PublicTrade {
  id: number;
  price: string;
  quantity: string;
  taker_side: Side;
  time: string | number;
}

export type KlineInterval = '1m' | '5m' | '15m' | '1h' | '4h' | '1d';
export const KLINE_INTERVALS: KlineInterval[] = ['1m', '5m', '15m', '1h', '4h', '1d'];

export interface Kline {
  open_time: string | number;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
  quote_volume?: string;
  trades?: number;
}

export interface Ticker {
  symbol: string;
  last: string | null;
  open: string | null;
  high: string | null;
  low: string | null;
  volume: string;
  quote_volume: string;
  trades: number;
  change_percent: string | null;
  best_bid: string | null;
  best_ask: string | null;
}

export interface Balance {
  asset: string;
  available: string;
  locked: string;
}

export interface Order {
  id: number;
  client_order_id: string | null;
  symbol: string;
  side: Side;
  type: OrderType;
  time_in_force: TimeInForce;
  post_only: boolean;
  price: string | null;
  /** a stop order's trigger (docs/api.md, "Stop orders") */
  stop_price: string | null;
  quantity: string;
  filled_quantity: string;
  average_price: string | null;
  status: OrderStatus;
  /** the OCO list it belongs to */
  order_list_id: number | null;
  created_at: string;
  updated_at: string;
}

export interface Fill {
  id: number;
  trade_id: number;
  order_id: number;
  symbol: string;
  side: Side;
  role: 'maker' | 'taker';
  price: string;
  quantity: string;
  fee: string;
  fee_asset: string;
  time: string | number;
}

export interface Page<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

export interface PlaceOrderInput {
  symbol: string;
  side: Side;
  type: OrderType;
  quantity: string;
  price?: string | null;
  stop_price?: string;
  time_in_force?: TimeInForce;
  post_only?: boolean;
  client_order_id?: string;
}

export interface PlacedOrder {
  order: Order;
  fills: Fill[];
}

/** An OCO list: a post-only limit order and a stop order (docs/api.md, "Order lists"). */
export interface PlaceOrderListInput {
  symbol: string;
  side: Side;
  quantity: string;
  price: string;
  stop_price: string;
  stop_limit_price?: string;
}

export interface OrderList {
  id: number;
  /** the limit order, then the stop order */
  orders: [Order, Order];
}

export interface AmendOrderInput {
  quantity?: string;
  price?: string;
}

/** An API key (docs/api.md, "API keys and signed requests"); never its secret. */
export type ApiKeyScope = 'read' | 'trade';
export const API_KEY_SCOPES: ApiKeyScope[] = ['read', 'trade'];

export interface ApiKey {
  id: number;
  label: string;
  scopes: ApiKeyScope[];
  api_key: string;
  allowed_ips: string[];
  created_at: string;
  last_used_at: string | null;
}

/** The reply to creating a key: the only time the secret is shown. */
export interface CreatedApiKey extends ApiKey {
  secret: string;
}

export interface CreateApiKeyInput {
  label: string;
  scopes: ApiKeyScope[];
  allowed_ips?: string[];
}

export interface Session {
  token: string;
  username: string;
  user_id?: number;
}

export const OPEN_STATUSES: OrderStatus[] = ['pending', 'new', 'partially_filled'];
export const STOP_TYPES: OrderType[] = ['stop_limit', 'stop_market'];
export function isOpen(order: Order): boolean {
  return OPEN_STATUSES.includes(order.status);
}
