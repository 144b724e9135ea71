import { OrdersView } from '@/components/account/orders-view';

export const metadata = { title: 'Orders · Exchange' };

export default function OrdersPage() {
  return (
    <main className="page">
      <h1>Your orders</h1>
      <OrdersView />
    </main>
  );
}
