/**
 * How the peer is bundled: one minified CommonJS file with its bytecode.
 * `npm run build` (scripts/build.ts), the Dockerfile, bench/startup.ts and
 * the launch-path test all build it from here, so they run the same file.
 */
import { join } from "node:path";

const ROOT = join(import.meta.dir, "../..");

/** The `bun build` command that writes `outdir/peer.js` and `outdir/peer.js.jsc`. */
export function bundlePeerCommand(outdir: string): string[] {
  return [
    process.execPath,
    "build",
    join(ROOT, "src/cli/peer.ts"),
    "--target",
    "bun",
    "--minify",
    "--bytecode",
    "--format",
    "cjs",
    "--outdir",
    outdir,
  ];
}
