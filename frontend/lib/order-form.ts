// The order form's rules, independent of React: validation against the market's rules,
// snapping to tick and lot, totals and percentage-of-balance quantities. All decimal.
import Decimal from 'decimal.js';
import type { Market, OrderType, PlaceOrderInput, PlaceOrderListInput, Side, TimeInForce } from './api/types';
import { isOnStep, parseDecimal, snapString, stepDecimals } from './decimal';

/** What the form places: an order of a type, or an OCO list ('oco'). */
export type OrderFormKind = OrderType | 'oco';

export interface OrderFormValues {
  side: Side;
  type: OrderFormKind;
  price: string;
  quantity: string;
  timeInForce: TimeInForce;
  postOnly: boolean;
  /** stop orders and OCO lists: the trigger */
  stopPrice?: string;
  /** OCO lists: the stop order's limit price ('' : a stop-market) */
  stopLimitPrice?: string;
}

export type OrderFormErrors = Partial<
  Record<'price' | 'stopPrice' | 'stopLimitPrice' | 'quantity' | 'total' | 'form', string>
>;

export interface ValidationResult {
  ok: boolean;
  errors: OrderFormErrors;
  order?: PlaceOrderInput;
  list?: PlaceOrderListInput;
}

/** Whether the form kind has a limit price field, a stop price field. */
export const hasLimitPrice = (kind: OrderFormKind) => kind === 'limit' || kind === 'stop_limit' || kind === 'oco';
export const hasStopPrice = (kind: OrderFormKind) => kind === 'stop_limit' || kind === 'stop_market' || kind === 'oco';

/** A price field's value and error: required, a number, above zero, on the tick. */
function checkPrice(text: string, tickSize: string, what: string): [Decimal | null, string | undefined] {
  const value = parseDecimal(text);
  if (text.trim() === '') return [null, `Enter a ${what}.`];
  if (!value) return [null, `The ${what} must be a number.`];
  if (value.lte(0)) return [null, `The ${what} must be above zero.`];
  if (!isOnStep(value, tickSize)) return [null, `The ${what} must be a multiple of the tick size ${tickSize}.`];
  return [value, undefined];
}

/** Check a form against the market's rules. Balance is the engine's call (its rejection
 * is shown in words), so it is not checked here. referencePrice estimates a market
 * order's notional (best opposite price), when known. */
export function validateOrder(
  market: Pick<Market, 'symbol' | 'tick_size' | 'lot_size' | 'min_quantity' | 'max_quantity' | 'min_notional' | 'status'>,
  values: OrderFormValues,
  referencePrice?: string | null,
): ValidationResult {
  const errors: OrderFormErrors = {};
  if (market.status && market.status !== 'trading') {
    errors.form =
      market.status === 'halted'
        ? 'This market is halted: trading is paused.'
        : 'This market is in cancel-only mode.';
  }
  const kind = values.type;
  let price: Decimal | null = null;
  if (hasLimitPrice(kind)) [price, errors.price] = checkPrice(values.price, market.tick_size, 'price');
  let stop: Decimal | null = null;
  if (hasStopPrice(kind)) [stop, errors.stopPrice] = checkPrice(values.stopPrice ?? '', market.tick_size, 'stop price');
  let stopLimit: Decimal | null = null;
  if (kind === 'oco' && (values.stopLimitPrice ?? '').trim() !== '')
    [stopLimit, errors.stopLimitPrice] = checkPrice(values.stopLimitPrice ?? '', market.tick_size, 'stop-limit price');
  if (kind === 'oco' && price && stop && (values.side === 'sell' ? stop.gte(price) : stop.lte(price)))
    errors.stopPrice =
      values.side === 'sell'
        ? 'To sell, the stop price must be below the limit price.'
        : 'To buy, the stop price must be above the limit price.';
  for (const key of ['price', 'stopPrice', 'stopLimitPrice'] as const) if (!errors[key]) delete errors[key];
  const quantity = parseDecimal(values.quantity);
  if (values.quantity.trim() === '') errors.quantity = 'Enter a quantity.';
  else if (!quantity) errors.quantity = 'The quantity must be a number.';
  else if (quantity.lte(0)) errors.quantity = 'The quantity must be above zero.';
  else if (!isOnStep(quantity, market.lot_size))
    errors.quantity = `The quantity must be a multiple of the lot size ${market.lot_size}.`;
  else if (parseDecimal(market.min_quantity)?.gt(quantity))
    errors.quantity = `The minimum quantity is ${market.min_quantity}.`;
  else if (parseDecimal(market.max_quantity)?.gt(0) && quantity.gt(market.max_quantity))
    errors.quantity = `The maximum quantity is ${market.max_quantity}.`;

  const notionalPrice = price ?? stop ?? parseDecimal(referencePrice ?? null);
  if (!errors.price && !errors.quantity && quantity && notionalPrice) {
    const minNotional = parseDecimal(market.min_notional);
    if (minNotional && minNotional.gt(0) && quantity.mul(notionalPrice).lt(minNotional))
      errors.total = `The order's value must be at least ${market.min_notional}.`;
  }
  if ((kind === 'market' || kind === 'stop_market') && values.postOnly)
    errors.form = 'A market order cannot be post-only.';

  const ok = Object.keys(errors).length === 0;
  if (!ok || !quantity) return { ok: false, errors };
  if (kind === 'oco' && price && stop) {
    const list: PlaceOrderListInput = {
      symbol: market.symbol,
      side: values.side,
      quantity: quantity.toFixed(),
      price: price.toFixed(),
      stop_price: stop.toFixed(),
    };
    if (stopLimit) list.stop_limit_price = stopLimit.toFixed();
    return { ok: true, errors: {}, list };
  }
  const order: PlaceOrderInput = {
    symbol: market.symbol,
    side: values.side,
    type: kind as OrderType,
    quantity: quantity.toFixed(),
  };
  if (stop) order.stop_price = stop.toFixed();
  if (price) {
    order.price = price.toFixed();
    order.time_in_force = values.timeInForce;
    if (values.postOnly) order.post_only = true;
  } else {
    order.time_in_force = 'IOC';
  }
  return { ok: true, errors: {}, order };
}

/** A typed price snapped to the nearest tick ("" stays ""). */
export function snapPrice(text: string, tickSize: string): string {
  const d = parseDecimal(text);
  if (!d || d.lte(0)) return text;
  const snapped = snapString(d, tickSize, 'nearest');
  return new Decimal(snapped).isZero() ? snapString(tickSize, tickSize) : snapped;
}

/** A typed quantity snapped down to the lot (never more than asked). */
export function snapQuantity(text: string, lotSize: string): string {
  const d = parseDecimal(text);
  if (!d || d.lte(0)) return text;
  return snapString(d, lotSize, 'down');
}

/** price * quantity with the tick's and lot's decimals, or "" when not computable. */
export function totalOf(price: string, quantity: string, tickSize: string, lotSize: string): string {
  const p = parseDecimal(price);
  const q = parseDecimal(quantity);
  if (!p || !q) return '';
  return p.mul(q).toFixed(Math.min(18, stepDecimals(tickSize) + stepDecimals(lotSize)));
}

/** The quantity that a quote total buys at price, snapped down to the lot. */
export function quantityForTotal(total: string, price: string, lotSize: string): string {
  const t = parseDecimal(total);
  const p = parseDecimal(price);
  if (!t || !p || p.lte(0)) return '';
  return snapString(t.div(p), lotSize, 'down');
}

/** The quantity for a share of the balance: a buy spends `percent` of the quote balance
 * at price; a sell sells `percent` of the base balance. Snapped down to the lot. */
export function quantityForPercent(
  side: Side,
  percent: number,
  available: { base: string | null; quote: string | null },
  price: string | null,
  lotSize: string,
): string {
  const share = new Decimal(percent).div(100);
  if (side === 'sell') {
    const base = parseDecimal(available.base);
    if (!base) return '';
    return snapString(base.mul(share), lotSize, 'down');
  }
  const quote = parseDecimal(available.quote);
  const p = parseDecimal(price);
  if (!quote || !p || p.lte(0)) return '';
  return snapString(quote.mul(share).div(p), lotSize, 'down');
}
