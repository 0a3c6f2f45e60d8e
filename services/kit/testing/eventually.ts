/**
 * Polls `check` until it is true, failing after `ms`. For tests whose behaviour under test is time
 * passing (a window or TTL lapsing), not for synchronising with work a test could await.
 */
export async function eventually(check: () => Promise<boolean>, ms: number): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > ms) throw new Error(`not true within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return performance.now() - started;
}
