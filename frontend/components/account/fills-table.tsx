import type { Fill } from '@/lib/api';
import { formatDecimal } from '@/lib/decimal';
import { formatDateTime } from '@/lib/format/time';

export function FillsTable({ fills, showSymbol = true }: { fills: Fill[]; showSymbol?: boolean }) {
  return (
    <table aria-label="Fills">
      <thead>
        <tr>
          <th>Time</th>
          {showSymbol && <th>Market</th>}
          <th>Side</th>
          <th>Role</th>
          <th className="r">Price</th>
          <th className="r">Quantity</th>
          <th className="r">Fee</th>
        </tr>
      </thead>
      <tbody>
        {fills.map((f) => (
          <tr key={f.id} data-testid="fill-row" data-price={f.price} data-quantity={f.quantity}>
            <td className="muted">{formatDateTime(f.time)}</td>
            {showSymbol && <td>{f.symbol.replace('_', '/')}</td>}
            <td className={f.side}>{f.side}</td>
            <td>{f.role}</td>
            <td className="r num">{formatDecimal(f.price)}</td>
            <td className="r num">{formatDecimal(f.quantity)}</td>
            <td className="r num">
              {formatDecimal(f.fee)} {f.fee_asset}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
