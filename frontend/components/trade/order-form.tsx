'use client';
import { useEffect, useId, useState } from 'react';
import { api, describeError, type Balance, type Market, type Side, type TimeInForce } from '@/lib/api';
import { formatDecimal, stepDecimals } from '@/lib/decimal';
import {
  hasLimitPrice,
  hasStopPrice,
  quantityForPercent,
  quantityForTotal,
  snapPrice,
  snapQuantity,
  totalOf,
  validateOrder,
  type OrderFormErrors,
  type OrderFormKind,
} from '@/lib/order-form';

const KINDS: [OrderFormKind, string][] = [
  ['limit', 'Limit'],
  ['market', 'Market'],
  ['stop_limit', 'Stop-limit'],
  ['stop_market', 'Stop-market'],
  ['oco', 'OCO'],
];

export interface PickedPrice {
  price: string;
  nonce: number;
}

const PERCENTS = [25, 50, 75, 100];

export function OrderForm({
  market,
  balances,
  loggedIn,
  bestBid,
  bestAsk,
  picked,
  onPlaced,
}: {
  market: Market;
  balances: Balance[] | undefined;
  loggedIn: boolean;
  bestBid: string | null;
  bestAsk: string | null;
  picked: PickedPrice | null;
  onPlaced: () => void;
}) {
  const id = useId();
  const [side, setSide] = useState<Side>('buy');
  const [type, setType] = useState<OrderFormKind>('limit');
  const [price, setPrice] = useState('');
  const [stopPrice, setStopPrice] = useState('');
  const [stopLimitPrice, setStopLimitPrice] = useState('');
  const [quantity, setQuantity] = useState('');
  const [total, setTotal] = useState('');
  const [tif, setTif] = useState<TimeInForce>('GTC');
  const [postOnly, setPostOnly] = useState(false);
  const [errors, setErrors] = useState<OrderFormErrors>({});
  const [result, setResult] = useState<{ kind: 'error' | 'success'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!picked) return;
    setType('limit');
    setPrice(picked.price);
    if (quantity) setTotal(totalOf(picked.price, quantity, market.tick_size, market.lot_size));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [picked]);

  const available = (asset: string) => balances?.find((b) => b.asset === asset)?.available ?? null;
  const baseAvail = available(market.base);
  const quoteAvail = available(market.quote);
  const limitPriced = hasLimitPrice(type);
  const stopPriced = hasStopPrice(type);
  // what a total is priced at: the limit price, a stop-market's stop price, else the book
  const reference = limitPriced ? price : type === 'stop_market' ? stopPrice : side === 'buy' ? bestAsk : bestBid;
  const pdp = stepDecimals(market.tick_size);
  const qdp = stepDecimals(market.lot_size);

  function changePrice(v: string) {
    setPrice(v);
    setTotal(totalOf(v, quantity, market.tick_size, market.lot_size));
  }
  function changeQuantity(v: string) {
    setQuantity(v);
    setTotal(reference ? totalOf(reference, v, market.tick_size, market.lot_size) : '');
  }
  function changeTotal(v: string) {
    setTotal(v);
    if (reference) setQuantity(quantityForTotal(v, reference, market.lot_size));
  }
  function pickPercent(p: number) {
    const q = quantityForPercent(side, p, { base: baseAvail, quote: quoteAvail }, reference ?? null, market.lot_size);
    if (q) changeQuantity(q);
  }

  function chooseType(kind: OrderFormKind) {
    setType(kind);
    if (kind !== 'limit' && kind !== 'stop_limit') setPostOnly(false);
  }

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    setResult(null);
    const snappedPrice = limitPriced ? snapPrice(price, market.tick_size) : '';
    const snappedStop = stopPriced ? snapPrice(stopPrice, market.tick_size) : '';
    const snappedStopLimit = type === 'oco' && stopLimitPrice ? snapPrice(stopLimitPrice, market.tick_size) : '';
    const snappedQty = snapQuantity(quantity, market.lot_size);
    setPrice(snappedPrice);
    setStopPrice(snappedStop);
    setStopLimitPrice(snappedStopLimit);
    setQuantity(snappedQty);
    const check = validateOrder(
      market,
      {
        side,
        type,
        price: snappedPrice,
        quantity: snappedQty,
        timeInForce: tif,
        postOnly: (type === 'limit' || type === 'stop_limit') && postOnly,
        stopPrice: snappedStop,
        stopLimitPrice: snappedStopLimit,
      },
      type === 'market' ? reference : null,
    );
    setErrors(check.errors);
    if (!check.ok || (!check.order && !check.list)) return;
    setBusy(true);
    try {
      if (check.list) {
        const list = await api.placeOrderList(check.list);
        const [limitOrder, stopOrder] = list.orders;
        setResult({
          kind: 'success',
          text: `OCO list #${list.id} placed: limit order #${limitOrder.id} ${limitOrder.status.replace('_', ' ')}, stop order #${stopOrder.id} ${stopOrder.status}.`,
        });
        onPlaced();
        return;
      }
      if (!check.order) return;
      const placed = await api.placeOrder(check.order);
      const o = placed.order;
      const filled = placed.fills.length
        ? `, filled ${formatDecimal(o.filled_quantity, qdp)} ${market.base}`
        : '';
      setResult({
        kind: 'success',
        text: `${o.side === 'buy' ? 'Buy' : 'Sell'} order #${o.id} ${o.status.replace('_', ' ')}${filled}.`,
      });
      onPlaced();
    } catch (e) {
      setResult({ kind: 'error', text: describeError(e) });
    } finally {
      setBusy(false);
    }
  }

  const fid = (name: string) => `${id}-${name}`;

  return (
    <section className="panel form" aria-labelledby={fid('title')}>
      <header>
        <h2 id={fid('title')}>Place order</h2>
      </header>
      <form className="body" onSubmit={submit} noValidate data-testid="order-form">
        <div className="segmented sides" role="group" aria-label="Side">
          <button type="button" className="side-buy" aria-pressed={side === 'buy'} onClick={() => setSide('buy')}>
            Buy
          </button>
          <button type="button" className="side-sell" aria-pressed={side === 'sell'} onClick={() => setSide('sell')}>
            Sell
          </button>
        </div>
        <div className="segmented kinds" role="group" aria-label="Order type">
          {KINDS.map(([kind, label]) => (
            <button key={kind} type="button" aria-pressed={type === kind} onClick={() => chooseType(kind)}>
              {label}
            </button>
          ))}
        </div>
        {type !== 'limit' && type !== 'market' && (
          <p className="muted hint" data-testid="order-kind-hint">
            {type === 'oco'
              ? `A post-only limit order and a stop order, ${side === 'sell' ? 'the stop below' : 'the stop above'} it: when one fills or triggers, the other is cancelled. One lock covers both.`
              : `Waits until the last trade price ${side === 'sell' ? 'falls to or below' : 'rises to or above'} the stop price, then ${type === 'stop_limit' ? 'places a limit order at the price' : 'buys or sells at the market'}.`}
          </p>
        )}
        <div className="form-summary">
          <span>Available</span>
          <span className="num" data-testid="available">
            {side === 'buy'
              ? `${quoteAvail !== null ? formatDecimal(quoteAvail, pdp) : '—'} ${market.quote}`
              : `${baseAvail !== null ? formatDecimal(baseAvail, qdp) : '—'} ${market.base}`}
          </span>
        </div>
        {stopPriced && (
          <div className="field">
            <label htmlFor={fid('stop-price')}>Stop price</label>
            <div className="suffix-wrap">
              <input
                id={fid('stop-price')}
                name="stop_price"
                inputMode="decimal"
                autoComplete="off"
                value={stopPrice}
                placeholder={`tick ${market.tick_size}`}
                aria-invalid={errors.stopPrice ? true : undefined}
                aria-describedby={errors.stopPrice ? fid('stop-price-error') : undefined}
                onChange={(e) => setStopPrice(e.target.value)}
                onBlur={() => stopPrice && setStopPrice(snapPrice(stopPrice, market.tick_size))}
              />
              <span className="suffix">{market.quote}</span>
            </div>
            {errors.stopPrice && <span id={fid('stop-price-error')} className="field-error">{errors.stopPrice}</span>}
          </div>
        )}
        {type === 'oco' && (
          <div className="field">
            <label htmlFor={fid('stop-limit-price')}>Stop-limit price</label>
            <div className="suffix-wrap">
              <input
                id={fid('stop-limit-price')}
                name="stop_limit_price"
                inputMode="decimal"
                autoComplete="off"
                value={stopLimitPrice}
                placeholder="empty: a stop-market order"
                aria-invalid={errors.stopLimitPrice ? true : undefined}
                aria-describedby={errors.stopLimitPrice ? fid('stop-limit-price-error') : undefined}
                onChange={(e) => setStopLimitPrice(e.target.value)}
                onBlur={() => stopLimitPrice && setStopLimitPrice(snapPrice(stopLimitPrice, market.tick_size))}
              />
              <span className="suffix">{market.quote}</span>
            </div>
            {errors.stopLimitPrice && (
              <span id={fid('stop-limit-price-error')} className="field-error">{errors.stopLimitPrice}</span>
            )}
          </div>
        )}
        {limitPriced ? (
          <div className="field">
            <label htmlFor={fid('price')}>Price</label>
            <div className="suffix-wrap">
              <input
                id={fid('price')}
                name="price"
                inputMode="decimal"
                autoComplete="off"
                value={price}
                placeholder={`tick ${market.tick_size}`}
                aria-invalid={errors.price ? true : undefined}
                aria-describedby={errors.price ? fid('price-error') : undefined}
                onChange={(e) => changePrice(e.target.value)}
                onBlur={() => price && changePrice(snapPrice(price, market.tick_size))}
              />
              <span className="suffix">{market.quote}</span>
            </div>
            {errors.price && <span id={fid('price-error')} className="field-error">{errors.price}</span>}
          </div>
        ) : (
          <div className="field">
            <label htmlFor={fid('price')}>Price</label>
            <input id={fid('price')} value="Market price" disabled readOnly />
          </div>
        )}
        <div className="field">
          <label htmlFor={fid('quantity')}>Quantity</label>
          <div className="suffix-wrap">
            <input
              id={fid('quantity')}
              name="quantity"
              inputMode="decimal"
              autoComplete="off"
              value={quantity}
              placeholder={`lot ${market.lot_size}`}
              aria-invalid={errors.quantity ? true : undefined}
              aria-describedby={errors.quantity ? fid('quantity-error') : undefined}
              onChange={(e) => changeQuantity(e.target.value)}
              onBlur={() => quantity && changeQuantity(snapQuantity(quantity, market.lot_size))}
            />
            <span className="suffix">{market.base}</span>
          </div>
          {errors.quantity && <span id={fid('quantity-error')} className="field-error">{errors.quantity}</span>}
        </div>
        <div className="pct" role="group" aria-label="Share of your available balance">
          {PERCENTS.map((p) => (
            <button key={p} type="button" onClick={() => pickPercent(p)} disabled={!loggedIn} aria-label={`${p}% of available balance`}>
              {p}%
            </button>
          ))}
        </div>
        <div className="field">
          <label htmlFor={fid('total')}>{limitPriced ? 'Total' : 'Estimated total'}</label>
          <div className="suffix-wrap">
            <input
              id={fid('total')}
              name="total"
              inputMode="decimal"
              autoComplete="off"
              value={total}
              aria-invalid={errors.total ? true : undefined}
              aria-describedby={errors.total ? fid('total-error') : undefined}
              onChange={(e) => changeTotal(e.target.value)}
            />
            <span className="suffix">{market.quote}</span>
          </div>
          {errors.total && <span id={fid('total-error')} className="field-error">{errors.total}</span>}
        </div>
        {(type === 'limit' || type === 'stop_limit') && (
          <div className="two">
            <div className="field">
              <label htmlFor={fid('tif')}>Time in force</label>
              <select id={fid('tif')} value={tif} onChange={(e) => setTif(e.target.value as TimeInForce)}>
                <option value="GTC">GTC: good till cancelled</option>
                <option value="IOC">IOC: immediate or cancel</option>
                <option value="FOK">FOK: fill or kill</option>
              </select>
            </div>
            <label className="checkbox" htmlFor={fid('post-only')} style={{ marginTop: 20 }}>
              <input id={fid('post-only')} type="checkbox" checked={postOnly} onChange={(e) => setPostOnly(e.target.checked)} />
              Post-only
            </label>
          </div>
        )}
        {errors.form && <div className="alert error" role="alert">{errors.form}</div>}
        {result && (
          <div className={`alert ${result.kind}`} role={result.kind === 'error' ? 'alert' : 'status'} data-testid={`order-${result.kind}`}>
            {result.text}
          </div>
        )}
        <div className="muted" style={{ fontSize: 11, marginBottom: 8 }}>
          Fees: maker {market.maker_fee_bps / 100}% · taker {market.taker_fee_bps / 100}%
        </div>
        {loggedIn ? (
          <button type="submit" className={side === 'buy' ? 'buy-btn' : 'sell-btn'} style={{ width: '100%', padding: 10 }} disabled={busy}>
            {busy ? 'Placing…' : `${side === 'buy' ? 'Buy' : 'Sell'} ${market.base}`}
          </button>
        ) : (
          <p className="muted">
            <a href={`/login?next=/trade/${market.symbol}`}>Log in</a> or <a href="/signup">sign up</a> to trade.
          </p>
        )}
      </form>
    </section>
  );
}
