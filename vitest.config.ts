import { configDefaults, defineConfig } from "vitest/config";

/**
 * Fault tests (*.fault.test.ts) stop and restart the shared real servers, so they run as their own
 * group (never alongside another test file), one file at a time. (Observed with vitest 5: that group
 * runs first, then the main group.)
 */
const FAULTS = ["services/**/*.fault.test.ts", "test/**/*.fault.test.ts"];

export default defineConfig({
  test: {
    globalSetup: ["test/global-setup.ts"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: "main",
          include: ["services/**/*.test.ts", "test/**/*.test.ts", "bench/**/*.test.ts"],
          exclude: [...configDefaults.exclude, ...FAULTS],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: { name: "faults", include: FAULTS, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
