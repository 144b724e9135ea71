'use client';
import Link from 'next/link';
import { useState } from 'react';
import { api, describeError } from '@/lib/api';
import { setSession } from '@/lib/session';
import { loadMarkets } from '@/lib/hooks/use-markets';

async function landing(): Promise<string> {
  const next = new URLSearchParams(window.location.search).get('next');
  if (next && next.startsWith('/') && !next.startsWith('//')) return next;
  try {
    const markets = await loadMarkets();
    if (markets.length) return `/trade/${markets[0].symbol}`;
  } catch {
    /* the markets page will say what is wrong */
  }
  return '/';
}

export function AuthForm({ mode }: { mode: 'login' | 'signup' }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [email, setEmail] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const signup = mode === 'signup';

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    setError(null);
    if (!username.trim() || !password) {
      setError('Enter a username and a password.');
      return;
    }
    setBusy(true);
    try {
      if (signup) {
        const r = await api.register(username.trim(), password, email.trim() || undefined);
        setSession({ token: r.token, username: r.username, user_id: r.user_id });
      } else {
        const r = await api.login(username.trim(), password);
        setSession({ token: r.token, username: username.trim() });
        try {
          const me = await api.me();
          setSession({ token: r.token, username: me.username, user_id: me.user_id });
        } catch {
          /* keep the typed name */
        }
      }
      window.location.assign(await landing());
    } catch (e) {
      setError(describeError(e));
      setBusy(false);
    }
  }

  return (
    <form className="auth-card" onSubmit={submit} noValidate aria-labelledby="auth-title">
      <h1 id="auth-title">{signup ? 'Create your account' : 'Log in'}</h1>
      {signup && <p className="muted">New accounts get demo funds to trade with.</p>}
      {error && (
        <div className="alert error" role="alert">
          {error}
        </div>
      )}
      <div className="field">
        <label htmlFor="username">Username</label>
        <input id="username" name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required />
      </div>
      {signup && (
        <div className="field">
          <label htmlFor="email">Email (optional)</label>
          <input id="email" name="email" type="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} />
        </div>
      )}
      <div className="field">
        <label htmlFor="password">Password</label>
        <input
          id="password"
          name="password"
          type="password"
          autoComplete={signup ? 'new-password' : 'current-password'}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
        />
      </div>
      <button type="submit" className="primary" disabled={busy}>
        {busy ? 'Please wait…' : signup ? 'Sign up' : 'Log in'}
      </button>
      <p className="muted">
        {signup ? (
          <>Already have an account? <Link href="/login">Log in</Link></>
        ) : (
          <>New here? <Link href="/signup">Create an account</Link></>
        )}
      </p>
    </form>
  );
}
