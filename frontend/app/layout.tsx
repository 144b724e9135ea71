import type { Metadata, Viewport } from 'next';
import { SiteHeader } from '@/components/layout/site-header';
import './globals.css';

export const metadata: Metadata = {
  title: 'Exchange',
  description: 'Spot trading: live markets, order book, charts and your orders.',
};

export const viewport: Viewport = { themeColor: '#0b0e11', width: 'device-width', initialScale: 1 };

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body>
        <SiteHeader />
        {children}
      </body>
    </html>
  );
}
