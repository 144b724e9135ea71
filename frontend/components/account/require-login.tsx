'use client';
import { useSession } from '@/lib/session';
import { Loading } from '@/components/ui/states';

export function RequireLogin({ children, what }: { children: React.ReactNode; what: string }) {
  const session = useSession();
  if (session === undefined) return <Loading />;
  if (!session) {
    return (
      <div className="state">
        <a href={`/login?next=${encodeURIComponent(typeof window === 'undefined' ? '/' : window.location.pathname)}`}>Log in</a>{' '}
        or <a href="/signup">sign up</a> to see {what}.
      </div>
    );
  }
  return <>{children}</>;
}
