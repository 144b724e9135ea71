import { BalancesView } from '@/components/account/balances-view';

export const metadata = { title: 'Balances · Exchange' };

export default function BalancesPage() {
  return (
    <main className="page">
      <h1>Your balances</h1>
      <BalancesView />
    </main>
  );
}
