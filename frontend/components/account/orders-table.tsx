'use client';
import { useState } from 'react';
import { api, describeError, isOpen, type Order } from '@/lib/api';
import { formatDecimal } from '@/lib/decimal';
import { formatDateTime } from '@/lib/format/time';

export function OrdersTable({
  orders,
  onChanged,
  showSymbol = true,
  label,
}: {
  orders: Order[];
  onChanged?: () => void;
  showSymbol?: boolean;
  label: string;
}) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<number | null>(null);
  const [amending, setAmending] = useState<number | null>(null);

  async function cancel(order: Order) {
    setError(null);
    setBusy(order.id);
    try {
      await api.cancelOrder(order.id);
      onChanged?.();
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(null);
    }
  }

  return (
    <>
      {error && <div className="alert error" role="alert">{error}</div>}
      <table aria-label={label}>
        <thead>
          <tr>
            <th>Time</th>
            {showSymbol && <th>Market</th>}
            <th>Side</th>
            <th>Type</th>
            <th className="r">Price</th>
            <th className="r">Stop</th>
            <th className="r">Filled / Quantity</th>
            <th className="r">Avg. price</th>
            <th>Status</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {orders.map((o) => (
            <tr key={o.id} data-testid="order-row" data-order-id={o.id} data-status={o.status}>
              <td className="muted">{formatDateTime(o.created_at)}</td>
              {showSymbol && <td>{o.symbol.replace('_', '/')}</td>}
              <td className={o.side}>{o.side}</td>
              <td>
                {o.type.replace('_', '-')}
                {o.type === 'limit' || o.type === 'stop_limit' ? ` ${o.time_in_force}` : ''}
                {o.post_only ? ' post-only' : ''}
                {o.order_list_id !== null ? <span className="muted" data-testid="order-list"> OCO #{o.order_list_id}</span> : ''}
              </td>
              <td className="r num">{o.price ? formatDecimal(o.price) : 'market'}</td>
              <td className="r num" data-testid="stop-price">{o.stop_price ? formatDecimal(o.stop_price) : '—'}</td>
              <td className="r num">
                {formatDecimal(o.filled_quantity)} / {formatDecimal(o.quantity)}
              </td>
              <td className="r num">{o.average_price ? formatDecimal(o.average_price) : '—'}</td>
              <td>{o.status.replace('_', ' ')}</td>
              <td>
                {isOpen(o) && amending === o.id && (
                  <AmendForm
                    order={o}
                    onDone={(changed) => {
                      setAmending(null);
                      if (changed) onChanged?.();
                    }}
                  />
                )}
                {isOpen(o) && amending !== o.id && o.order_list_id === null && (
                  <button type="button" className="small" onClick={() => setAmending(o.id)} aria-label={`Amend order ${o.id}`}>
                    Amend
                  </button>
                )}{' '}
                {isOpen(o) && amending !== o.id && (
                  <button
                    type="button"
                    className="small"
                    onClick={() => cancel(o)}
                    disabled={busy === o.id}
                    aria-label={`Cancel order ${o.id}`}
                  >
                    {busy === o.id ? 'Cancelling…' : 'Cancel'}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

/** A row's amend editor: a new total quantity and/or limit price (docs/api.md, PATCH). */
function AmendForm({ order, onDone }: { order: Order; onDone: (changed: boolean) => void }) {
  const [quantity, setQuantity] = useState(order.quantity);
  const [price, setPrice] = useState(order.price ?? '');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function save(event: React.FormEvent) {
    event.preventDefault();
    const input: { quantity?: string; price?: string } = {};
    if (quantity.trim() && quantity !== order.quantity) input.quantity = quantity.trim();
    if (order.price !== null && price.trim() && price !== order.price) input.price = price.trim();
    if (!input.quantity && !input.price) {
      onDone(false);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await api.amendOrder(order.id, input);
      onDone(true);
    } catch (e) {
      setError(describeError(e));
      setBusy(false);
    }
  }

  return (
    <form className="amend" onSubmit={save} data-testid="amend-form">
      <input aria-label={`New quantity of order ${order.id}`} inputMode="decimal" value={quantity} onChange={(e) => setQuantity(e.target.value)} />
      {order.price !== null && (
        <input aria-label={`New price of order ${order.id}`} inputMode="decimal" value={price} onChange={(e) => setPrice(e.target.value)} />
      )}
      <button type="submit" className="small" disabled={busy}>{busy ? 'Saving…' : 'Save'}</button>
      <button type="button" className="small" onClick={() => onDone(false)}>Back</button>
      {error && <span className="field-error" role="alert">{error}</span>}
    </form>
  );
}
