/** `npm run build`: the bundled peer in dist/ (see scripts/lib/bundle.ts). */
import { join } from "node:path";
import { bundlePeerCommand } from "./lib/bundle.ts";

const built = Bun.spawnSync(bundlePeerCommand(join(import.meta.dir, "../dist")), {
  stdout: "inherit",
  stderr: "inherit",
});
process.exit(built.exitCode ?? 1);
