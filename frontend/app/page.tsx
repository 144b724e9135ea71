import { MarketsTable } from '@/components/markets/markets-table';

export default function MarketsPage() {
  return (
    <main className="page">
      <h1>Markets</h1>
      <MarketsTable />
    </main>
  );
}
