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
                {o.type}
                {o.type === 'limit' ? ` ${o.time_in_force}` : ''}
                {o.post_only ? ' post-only' : ''}
              </td>
              <td className="r num">{o.price ? formatDecimal(o.price) : 'market'}</td>
              <td className="r num">
                {formatDecimal(o.filled_quantity)} / {formatDecimal(o.quantity)}
              </td>
              <td className="r num">{o.average_price ? formatDecimal(o.average_price) : '—'}</td>
              <td>{o.status.replace('_', ' ')}</td>
              <td>
                {isOpen(o) && (
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
