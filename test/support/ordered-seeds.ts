/** Fixed simulator seeds of one ordered workload (src/sim/views.ts), for the ordered multicast tests. */
import { drawSettings, type RunSettings, viewsOptions } from "../../src/sim/cli.ts";
import { runViews } from "../../src/sim/views.ts";

/**
 * Runs seeds 1..`seeds` of a workload with bursts of 1 and of up to 4, 20
 * messages per process, stopping at the first failure (a planted bug is
 * caught sooner); the failures, and what the runs did.
 */
export function runSeeds(
  given: Partial<RunSettings>,
  seeds: number,
): { failures: string[]; deliveries: number; views: number } {
  const failures: string[] = [];
  let deliveries = 0;
  let views = 0;
  for (let seed = 1; seed <= seeds && failures.length === 0; seed++) {
    for (const burst of [1, 4]) {
      const s = drawSettings({ ...given, messages: 20, burst }, seed);
      const r = runViews(viewsOptions(s));
      if (!r.ok) failures.push(`seed ${seed} burst ${burst}: ${r.violations.slice(0, 2).join("; ").slice(0, 400)}`);
      deliveries += r.deliveries;
      views += r.views;
    }
  }
  return { failures, deliveries, views };
}
