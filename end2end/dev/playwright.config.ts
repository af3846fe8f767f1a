import { defineConfig } from '@playwright/test';
import base from '../playwright.config';

// scripts/dev-check.sh: its tests run against the `cargo leptos watch` the script
// started (DEV_CHECK_URL), in Debian's Chromium like the rest. Its wait for
// a rebuild is bounded by DEV_CHECK_REBUILD_TIMEOUT_MS (default 10 minutes).
export default defineConfig({
  ...base,
  testDir: '.',
  timeout: Number(process.env.DEV_CHECK_REBUILD_TIMEOUT_MS ?? 600_000) + 120_000,
  fullyParallel: false,
  workers: 1,
  // Only the wait for a rebuild may take long.
  use: { ...base.use, navigationTimeout: 30_000, actionTimeout: 15_000 },
});
