'use client';
import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { useState } from 'react';
import { api } from '@/lib/api';
import { setSession, useSession } from '@/lib/session';
import { useSocketAuth } from '@/lib/hooks/use-socket';
import { ConnectionBadge } from '@/components/ui/connection-badge';

const NAV = [
  { href: '/', label: 'Markets' },
  { href: '/orders', label: 'Orders' },
  { href: '/balances', label: 'Balances' },
  { href: '/api-keys', label: 'API keys' },
];

export function SiteHeader() {
  const session = useSession();
  const pathname = usePathname();
  const [busy, setBusy] = useState(false);
  useSocketAuth();

  async function logout() {
    setBusy(true);
    try {
      await api.logout();
    } catch {
      /* the token may be gone already: log out locally anyway */
    }
    setSession(null);
    setBusy(false);
    window.location.assign('/login');
  }

  return (
    <header className="site-header">
      <Link href="/" className="brand">
        EXCHANGE
      </Link>
      <nav aria-label="Main">
        {NAV.map((item) => (
          <Link key={item.href} href={item.href} aria-current={pathname === item.href ? 'page' : undefined}>
            {item.label}
          </Link>
        ))}
        <a href="/trade/BTC_USDT" aria-current={pathname?.startsWith('/trade') ? 'page' : undefined}>
          Trade
        </a>
      </nav>
      <ConnectionBadge />
      <div className="account">
        {session === undefined ? null : session ? (
          <>
            <span data-testid="username">{session.username}</span>
            <button type="button" className="small" onClick={logout} disabled={busy}>
              Log out
            </button>
          </>
        ) : (
          <>
            <Link href="/login">Log in</Link>
            <Link href="/signup" className="btn">
              Sign up
            </Link>
          </>
        )}
      </div>
    </header>
  );
}
