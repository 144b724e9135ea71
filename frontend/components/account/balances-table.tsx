import type { Balance } from '@/lib/api';
import { Decimal, formatDecimal } from '@/lib/decimal';

export function BalancesTable({ balances, assets }: { balances: Balance[]; assets?: string[] }) {
  const rows = assets ? balances.filter((b) => assets.includes(b.asset)) : balances;
  return (
    <table aria-label="Balances" data-testid="balances">
      <thead>
        <tr>
          <th>Asset</th>
          <th className="r">Available</th>
          <th className="r">In orders</th>
          <th className="r">Total</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((b) => (
          <tr key={b.asset} data-testid={`balance-${b.asset}`} data-available={b.available} data-locked={b.locked}>
            <td>{b.asset}</td>
            <td className="r num" data-testid="available">{formatDecimal(b.available)}</td>
            <td className="r num">{formatDecimal(b.locked)}</td>
            <td className="r num">{formatDecimal(new Decimal(b.available).add(b.locked))}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
