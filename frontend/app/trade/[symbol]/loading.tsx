import { Loading } from '@/components/ui/states';

export default function TradeLoading() {
  return <Loading label="Loading the market…" />;
}
