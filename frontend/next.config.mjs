// The web app is exported as static files (frontend/out/) that Django serves at / on the
// same origin as the API and the WebSocket (see docs/frontend.md).
/** @type {import('next').NextConfig} */
const nextConfig = {
  output: 'export',
  images: { unoptimized: true },
  reactStrictMode: true,
  poweredByHeader: false,
  // `next build` must not lint or fetch anything at build time.
  eslint: { ignoreDuringBuilds: true },
  // Local dev (`npm run dev` on :3000) proxies nothing: point NEXT_PUBLIC_API_ORIGIN at
  // the Django server instead (lib/api/client.ts).
};

export default nextConfig;
