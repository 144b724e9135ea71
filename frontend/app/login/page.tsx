import { AuthForm } from '@/components/account/auth-form';

export const metadata = { title: 'Log in · Exchange' };

export default function LoginPage() {
  return (
    <main className="page">
      <AuthForm mode="login" />
    </main>
  );
}
