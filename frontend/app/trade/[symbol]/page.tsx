import { TradeView } from '@/components/trade/trade-view';

// Markets are added at run time, so the static export holds one page for every symbol
// ("_"); Django serves it for any /trade/<SYMBOL> and the page reads the symbol from the
// address (docs/frontend.md).
export const dynamicParams = false;

export function generateStaticParams() {
  return [{ symbol: '_' }];
}

export const metadata = { title: 'Trade · Exchange' };

export default function TradePage() {
  return <TradeView />;
}
