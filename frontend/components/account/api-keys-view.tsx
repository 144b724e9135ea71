'use client';
import { useState } from 'react';
import { api, describeError, API_KEY_SCOPES, type ApiKey, type ApiKeyScope, type CreatedApiKey } from '@/lib/api';
import { useResource } from '@/lib/hooks/use-resource';
import { formatDateTime } from '@/lib/format/time';
import { splitAddresses } from '@/lib/api-keys';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { RequireLogin } from './require-login';

const SCOPE_TEXT: Record<ApiKeyScope, string> = {
  read: 'Read: balances, orders, fills',
  trade: 'Trade: place and cancel orders',
};

function CopyButton({ text, what }: { text: string; what: string }) {
  const [copied, setCopied] = useState(false);
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      setTimeout(() => setCopied(false), 2000);
    } catch {
      setCopied(false); // no clipboard (insecure origin, denied): the text can be selected
    }
  }
  return (
    <button type="button" className="small" onClick={copy} aria-label={`Copy ${what}`}>
      {copied ? 'Copied' : 'Copy'}
    </button>
  );
}

function NewSecret({ created, onDone }: { created: CreatedApiKey; onDone: () => void }) {
  return (
    <section className="alert success secret-box" role="status" aria-label="New API key" data-testid="new-api-key">
      <strong>Key &ldquo;{created.label}&rdquo; created.</strong> Copy the secret now: it is not shown again.
      <dl>
        <dt>API key</dt>
        <dd>
          <code data-testid="new-api-key-key">{created.api_key}</code> <CopyButton text={created.api_key} what="API key" />
        </dd>
        <dt>Secret</dt>
        <dd>
          <code data-testid="new-api-key-secret">{created.secret}</code> <CopyButton text={created.secret} what="secret" />
        </dd>
      </dl>
      <button type="button" className="small" onClick={onDone}>
        I have stored the secret
      </button>
    </section>
  );
}

function CreateForm({ onCreated }: { onCreated: (key: CreatedApiKey) => void }) {
  const [label, setLabel] = useState('');
  const [scopes, setScopes] = useState<ApiKeyScope[]>(['read']);
  const [addresses, setAddresses] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  function toggle(scope: ApiKeyScope) {
    setScopes((current) => (current.includes(scope) ? current.filter((s) => s !== scope) : [...current, scope]));
  }

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    setError(null);
    if (!label.trim()) return setError('Give the key a label, such as the bot it is for.');
    if (!scopes.length) return setError('Choose at least one permission.');
    setBusy(true);
    try {
      const allowed = splitAddresses(addresses);
      const created = await api.createApiKey({ label: label.trim(), scopes, ...(allowed.length ? { allowed_ips: allowed } : {}) });
      setLabel('');
      setAddresses('');
      onCreated(created);
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="panel" onSubmit={submit} noValidate aria-labelledby="create-key-title" data-testid="create-api-key">
      <header>
        <h2 id="create-key-title">Create a key</h2>
      </header>
      <div className="body api-key-form">
        {error && (
          <div className="alert error" role="alert">
            {error}
          </div>
        )}
        <div className="field">
          <label htmlFor="api-key-label">Label</label>
          <input id="api-key-label" maxLength={64} value={label} onChange={(e) => setLabel(e.target.value)} placeholder="my grid bot" />
        </div>
        <fieldset className="field">
          <legend>Permissions</legend>
          {API_KEY_SCOPES.map((scope) => (
            <label key={scope} className="checkbox">
              <input type="checkbox" checked={scopes.includes(scope)} onChange={() => toggle(scope)} />
              {SCOPE_TEXT[scope]}
            </label>
          ))}
        </fieldset>
        <div className="field">
          <label htmlFor="api-key-ips">Allowed IP addresses (optional)</label>
          <input
            id="api-key-ips"
            value={addresses}
            onChange={(e) => setAddresses(e.target.value)}
            placeholder="203.0.113.7, 10.0.0.0/8 — empty: any address"
          />
        </div>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create key'}
        </button>
      </div>
    </form>
  );
}

function KeyRow({ apiKey, onRevoked }: { apiKey: ApiKey; onRevoked: (id: number) => void }) {
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function revoke() {
    setBusy(true);
    setError(null);
    try {
      await api.revokeApiKey(apiKey.id);
      onRevoked(apiKey.id);
    } catch (e) {
      setError(describeError(e));
      setBusy(false);
    }
  }

  return (
    <tr data-testid="api-key-row" data-api-key={apiKey.api_key}>
      <td>{apiKey.label}</td>
      <td className="num" title={apiKey.api_key}>
        {apiKey.api_key.slice(0, 12)}…
      </td>
      <td>{apiKey.scopes.join(', ')}</td>
      <td className="num">{apiKey.allowed_ips.length ? apiKey.allowed_ips.join(', ') : <span className="muted">any</span>}</td>
      <td className="num">{formatDateTime(apiKey.created_at)}</td>
      <td className="num">{apiKey.last_used_at ? formatDateTime(apiKey.last_used_at) : <span className="muted">never</span>}</td>
      <td className="r">
        {error && <span className="field-error" role="alert">{error} </span>}
        {confirming ? (
          <>
            <button type="button" className="small sell-btn" onClick={revoke} disabled={busy} aria-label={`Confirm revoking ${apiKey.label}`}>
              Revoke now
            </button>{' '}
            <button type="button" className="small" onClick={() => setConfirming(false)} disabled={busy}>
              Keep
            </button>
          </>
        ) : (
          <button type="button" className="small" onClick={() => setConfirming(true)} aria-label={`Revoke ${apiKey.label}`}>
            Revoke
          </button>
        )}
      </td>
    </tr>
  );
}

function ApiKeysInner() {
  const keys = useResource<ApiKey[]>(() => api.apiKeys(), []);
  const [created, setCreated] = useState<CreatedApiKey | null>(null);

  function onCreated(key: CreatedApiKey) {
    setCreated(key);
    const { secret: _secret, ...listed } = key; // the list never holds a secret
    keys.set((current) => [listed, ...(current ?? [])]);
  }

  return (
    <div className="api-keys">
      {created && <NewSecret created={created} onDone={() => setCreated(null)} />}
      <CreateForm onCreated={onCreated} />
      <section className="panel">
        <header>
          <h2>Your keys</h2>
        </header>
        <div className="body">
          {keys.loading ? (
            <Loading label="Loading keys…" />
          ) : keys.error && !keys.data ? (
            <ErrorState error={keys.error} onRetry={keys.reload} />
          ) : !keys.data?.length ? (
            <Empty>No API keys yet.</Empty>
          ) : (
            <table aria-label="API keys">
              <thead>
                <tr>
                  <th>Label</th>
                  <th>API key</th>
                  <th>Permissions</th>
                  <th>Allowed IPs</th>
                  <th>Created</th>
                  <th>Last used</th>
                  <th className="r">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {keys.data.map((k) => (
                  <KeyRow key={k.id} apiKey={k} onRevoked={(id) => keys.set((current) => current?.filter((x) => x.id !== id))} />
                ))}
              </tbody>
            </table>
          )}
        </div>
      </section>
    </div>
  );
}

export function ApiKeysView() {
  return (
    <RequireLogin what="your API keys">
      <ApiKeysInner />
    </RequireLogin>
  );
}
