'use client';
import { useUserData } from '@/lib/hooks/use-user-data';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { BalancesTable } from './balances-table';
import { RequireLogin } from './require-login';

function BalancesInner() {
  const { balances } = useUserData();
  if (balances.loading) return <Loading label="Loading balances…" />;
  if (balances.error && !balances.data) return <ErrorState error={balances.error} onRetry={balances.reload} />;
  if (!balances.data?.length) return <Empty>No funds yet.</Empty>;
  return (
    <section className="panel">
      <div className="body">
        <BalancesTable balances={balances.data} />
      </div>
    </section>
  );
}

export function BalancesView() {
  return (
    <RequireLogin what="your balances">
      <BalancesInner />
    </RequireLogin>
  );
}
