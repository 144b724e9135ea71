import { describe, expect, it } from 'vitest';
import type { Market } from './api/types';
import {
  quantityForPercent,
  quantityForTotal,
  snapPrice,
  snapQuantity,
  totalOf,
  validateOrder,
  type OrderFormValues,
} from './order-form';

const market: Market = {
  symbol: 'BTC_USDT',
  base: 'BTC',
  quote: 'USDT',
  tick_size: '0.01',
  lot_size: '0.00001',
  min_quantity: '0.00001',
  max_quantity: '100',
  min_notional: '1',
  maker_fee_bps: 10,
  taker_fee_bps: 20,
  status: 'trading',
};

const limit = (over: Partial<OrderFormValues> = {}): OrderFormValues => ({
  side: 'buy',
  type: 'limit',
  price: '30000',
  quantity: '0.1',
  timeInForce: 'GTC',
  postOnly: false,
  ...over,
});

describe('order form validation', () => {
  it('accepts a good limit order and builds the request', () => {
    const result = validateOrder(market, limit({ postOnly: true, timeInForce: 'GTC' }));
    expect(result.ok).toBe(true);
    expect(result.order).toEqual({
      symbol: 'BTC_USDT', side: 'buy', type: 'limit', quantity: '0.1', price: '30000',
      time_in_force: 'GTC', post_only: true,
    });
  });
  it('needs a price on the tick for a limit order', () => {
    expect(validateOrder(market, limit({ price: '' })).errors.price).toMatch(/Enter a price/);
    expect(validateOrder(market, limit({ price: 'x' })).errors.price).toMatch(/number/);
    expect(validateOrder(market, limit({ price: '0' })).errors.price).toMatch(/above zero/);
    expect(validateOrder(market, limit({ price: '30000.001' })).errors.price).toMatch(/tick size 0.01/);
  });
  it('needs a quantity on the lot within the limits', () => {
    expect(validateOrder(market, limit({ quantity: '' })).errors.quantity).toMatch(/Enter a quantity/);
    expect(validateOrder(market, limit({ quantity: '0.000001' })).errors.quantity).toMatch(/lot size/);
    expect(validateOrder(market, limit({ quantity: '101' })).errors.quantity).toMatch(/maximum/);
    expect(validateOrder(market, limit({ quantity: '-1' })).errors.quantity).toMatch(/above zero/);
  });
  it('checks the minimum notional, with a reference price for market orders', () => {
    expect(validateOrder(market, limit({ price: '1', quantity: '0.5' })).errors.total).toMatch(/at least 1/);
    const m = limit({ type: 'market', price: '', quantity: '0.00002' });
    expect(validateOrder(market, m, '30000').errors.total).toMatch(/at least 1/);
    const ok = validateOrder(market, { ...m, quantity: '0.1' }, '30000');
    expect(ok.ok).toBe(true);
    expect(ok.order).toEqual({ symbol: 'BTC_USDT', side: 'buy', type: 'market', quantity: '0.1', time_in_force: 'IOC' });
  });
  it('refuses a market order that is post-only and a halted market', () => {
    expect(validateOrder(market, limit({ type: 'market', postOnly: true })).errors.form).toMatch(/post-only/);
    expect(validateOrder({ ...market, status: 'halted' }, limit()).errors.form).toMatch(/halted/);
  });
  it('does not check the balance (the engine does, and says so in words)', () => {
    expect(validateOrder(market, limit({ quantity: '99' })).ok).toBe(true);
  });
});

describe('order form arithmetic', () => {
  it('snaps typed values', () => {
    expect(snapPrice('30000.126', '0.01')).toBe('30000.13');
    expect(snapPrice('0.001', '0.01')).toBe('0.01');
    expect(snapQuantity('0.123456', '0.00001')).toBe('0.12345');
    expect(snapQuantity('abc', '0.00001')).toBe('abc');
  });
  it('computes totals and quantities exactly', () => {
    expect(totalOf('30000.01', '0.3', '0.01', '0.00001')).toBe('9000.0030000');
    expect(quantityForTotal('1000', '30000', '0.00001')).toBe('0.03333');
  });
  it('turns a share of the balance into a quantity on the lot', () => {
    const available = { base: '1.23456789', quote: '10000' };
    expect(quantityForPercent('sell', 50, available, null, '0.00001')).toBe('0.61728');
    expect(quantityForPercent('buy', 100, available, '30000', '0.00001')).toBe('0.33333');
    expect(quantityForPercent('buy', 25, available, null, '0.00001')).toBe('');
  });
});

describe('stop orders and OCO lists in the order form', () => {
  it('builds a stop-limit and a stop-market order with their stop price', () => {
    const stopLimit = validateOrder(market, limit({ side: 'sell', type: 'stop_limit', price: '29000', stopPrice: '29500' }));
    expect(stopLimit.order).toEqual({
      symbol: 'BTC_USDT', side: 'sell', type: 'stop_limit', quantity: '0.1', price: '29000',
      stop_price: '29500', time_in_force: 'GTC',
    });
    const stopMarket = validateOrder(market, limit({ type: 'stop_market', price: '', stopPrice: '31000' }));
    expect(stopMarket.order).toEqual({
      symbol: 'BTC_USDT', side: 'buy', type: 'stop_market', quantity: '0.1', stop_price: '31000',
      time_in_force: 'IOC',
    });
  });
  it('needs a stop price on the tick, and a stop-market is not post-only', () => {
    expect(validateOrder(market, limit({ type: 'stop_limit', stopPrice: '' })).errors.stopPrice).toMatch(/Enter a stop price/);
    expect(validateOrder(market, limit({ type: 'stop_market', stopPrice: '1.001' })).errors.stopPrice).toMatch(/tick size/);
    expect(validateOrder(market, limit({ type: 'stop_market', stopPrice: '31000', postOnly: true })).errors.form).toMatch(/post-only/);
    // the stop price prices a stop-market's notional
    expect(validateOrder(market, limit({ type: 'stop_market', stopPrice: '5', quantity: '0.1' })).errors.total).toMatch(/at least 1/);
  });
  it('builds an OCO list, with or without a stop-limit price', () => {
    const sell = validateOrder(market, limit({ side: 'sell', type: 'oco', price: '31000', stopPrice: '29000', stopLimitPrice: '28900' }));
    expect(sell.order).toBeUndefined();
    expect(sell.list).toEqual({
      symbol: 'BTC_USDT', side: 'sell', quantity: '0.1', price: '31000', stop_price: '29000', stop_limit_price: '28900',
    });
    const buy = validateOrder(market, limit({ type: 'oco', price: '29000', stopPrice: '31000', stopLimitPrice: '' }));
    expect(buy.list).toEqual({ symbol: 'BTC_USDT', side: 'buy', quantity: '0.1', price: '29000', stop_price: '31000' });
  });
  it('puts an OCO stop price on the right side of its limit price', () => {
    expect(validateOrder(market, limit({ side: 'sell', type: 'oco', price: '29000', stopPrice: '29000' })).errors.stopPrice).toMatch(/below the limit/);
    expect(validateOrder(market, limit({ side: 'buy', type: 'oco', price: '29000', stopPrice: '28000' })).errors.stopPrice).toMatch(/above the limit/);
    expect(validateOrder(market, limit({ type: 'oco', price: '29000', stopPrice: '31000', stopLimitPrice: 'x' })).errors.stopLimitPrice).toMatch(/number/);
  });
});
