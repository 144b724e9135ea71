import { AuthForm } from '@/components/account/auth-form';

export const metadata = { title: 'Sign up · Exchange' };

export default function SignupPage() {
  return (
    <main className="page">
      <AuthForm mode="signup" />
    </main>
  );
}
