import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { configDefaults, defineConfig } from 'vitest/config';

const WORKERS_TESTS = 'test/workers/**/*.test.ts';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, WORKERS_TESTS],
          globalSetup: ['test/helpers/build-console.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Files that start servers run side by side; two cores are enough for a few at once.
          maxWorkers: 2,
        },
      },
      {
        // The Worker (src/worker.ts, through wrangler.toml) and its tests run inside workerd; the
        // database is a local libSQL endpoint that globalSetup starts in Node.
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                LIBSQL_URL: inject('libsqlUrl'),
                SKIFF_ADMIN_TOKEN: 'workers-test-token',
                // Each file's isolate ends with the passes its requests kicked still running; one cut
                // off would hold the pass lease over the next files' passes until it expired.
                PASS_LEASE_SECONDS: '0',
              },
            },
          })),
        ],
        test: {
          name: 'workers',
          include: [WORKERS_TESTS],
          globalSetup: ['test/helpers/build-console.ts', 'test/workers/global-setup.ts'],
          testTimeout: 20_000,
          // The files share one database and any file's pass reconciles all of it: one file at a
          // time keeps a test's "nothing has acted on this yet" true until it runs its own pass.
          fileParallelism: false,
        },
      },
    ],
  },
});
