// Error normalisation: every failure becomes an ApiError with a code and words for people.

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;

  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** The endpoint does not exist (yet): market data endpoints landing later. */
  get isMissing(): boolean {
    return this.status === 404 || this.status === 405;
  }
}

const WORDS: Record<string, string> = {
  insufficient_balance: 'Insufficient balance: you do not have enough available funds for this order.',
  post_only_would_take: 'Post-only order rejected: it would have traded immediately against the book.',
  market_halted: 'This market is halted: trading is paused.',
  market_cancel_only: 'This market is in cancel-only mode: you can cancel orders but not place new ones.',
  fok_not_filled: 'Fill-or-kill order rejected: it could not be filled completely at once.',
  min_notional: 'Order too small: its value is below the market’s minimum notional.',
  min_quantity: 'Quantity too small for this market.',
  max_quantity: 'Quantity too large for this market.',
  invalid_price: 'Invalid price: it must be a positive multiple of the tick size.',
  invalid_quantity: 'Invalid quantity: it must be a positive multiple of the lot size (and, to amend, above what has filled).',
  invalid_stop_price:
    'Invalid stop price: a positive multiple of the tick size; in an OCO list below the limit price to sell, above it to buy.',
  stop_would_trigger: 'The market’s last price has already reached this stop price: it would trigger at once.',
  order_in_list: 'This order is part of an OCO list: cancel the list and place it again to change it.',
  unknown_order_list: 'That order list does not exist.',
  unknown_market: 'Unknown market.',
  unknown_order: 'That order does not exist.',
  order_not_open: 'That order is no longer open.',
  duplicate_client_order_id: 'An order with this client order id was placed recently: look it up instead of sending it again.',
  too_many_open_orders: 'Too many open orders in this market: cancel some before placing more.',
  too_many_api_keys: 'You have as many API keys as allowed: revoke one before creating another.',
  unknown_api_key: 'That API key does not exist or is already revoked.',
  not_authenticated: 'Please log in first.',
  authentication_failed: 'Your session has expired: please log in again.',
  throttled: 'Too many requests: please wait a moment.',
  engine_unavailable: 'The matching engine is not available right now: try again shortly.',
  engine_timeout: 'The matching engine did not answer in time: check your open orders before retrying.',
  network_error: 'Cannot reach the exchange: check your connection.',
};

/** A sentence a trader can read, for any error. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    const words = WORDS[error.code];
    const fieldText = fieldMessages(error.details);
    if (words) return words;
    if (fieldText) return fieldText;
    return error.message || `Request failed (${error.status}).`;
  }
  if (error instanceof Error) return error.message;
  return 'Something went wrong.';
}

/** "price: A limit order needs a price." from DRF-style details. */
export function fieldMessages(details: Record<string, unknown> | undefined): string {
  if (!details) return '';
  const parts: string[] = [];
  for (const [field, value] of Object.entries(details)) {
    const messages = Array.isArray(value) ? value.map(String) : [String(value)];
    const label = field === 'non_field_errors' ? '' : `${field.replace(/_/g, ' ')}: `;
    parts.push(label + messages.join(' '));
  }
  return parts.join(' ');
}
