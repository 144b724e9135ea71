import Link from 'next/link';

export default function NotFound() {
  return (
    <main className="page">
      <h1>Page not found</h1>
      <p className="muted">
        Nothing here. Back to the <Link href="/">markets</Link>.
      </p>
    </main>
  );
}
