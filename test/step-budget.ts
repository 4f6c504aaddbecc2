/**
 * Time limits for long end-to-end tests, derived from the work they do rather than from how fast
 * an idle machine does it: a fixed allowance for start-up plus a generous one per training step
 * (about 20x what a step takes on a busy 2-core machine). A test only times out when it hangs,
 * never because CI shares its cores.
 */
export function stepBudgetMs(steps: number, perStepMs = 2_000, startupMs = 120_000): number {
  return startupMs + steps * perStepMs;
}
