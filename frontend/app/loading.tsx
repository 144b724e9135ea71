import { Loading } from '@/components/ui/states';

export default function RootLoading() {
  return <Loading />;
}
