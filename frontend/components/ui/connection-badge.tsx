'use client';
import { useConnectionState } from '@/lib/hooks/use-socket';

const LABELS = {
  idle: 'Offline',
  connecting: 'Connecting…',
  open: 'Live',
  reconnecting: 'Reconnecting…',
  closed: 'Disconnected',
} as const;

export function ConnectionBadge() {
  const state = useConnectionState();
  return (
    <span className={`conn ${state}`} role="status" aria-live="polite" data-testid="connection-state" data-state={state}>
      <span className="dot" aria-hidden="true" />
      {LABELS[state]}
    </span>
  );
}
