// Adds lock entries for platform packages the registry mirror here does not
// serve (darwin, win32, musl builds of biome and buf). `npm install` leaves
// them out when it cannot fetch their metadata, and `npm ci` then refuses the
// lock file as out of sync. The entries carry only version, os and cpu: npm ci
// skips packages for other platforms without downloading them.
// Run after any `npm install`: node scripts/complete-lockfile.mjs
import { readFileSync, writeFileSync } from "node:fs";

const file = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(file, "utf8"));
const packages = lock.packages;
const added = [];
for (const [path, pkg] of Object.entries(packages)) {
  for (const [name, version] of Object.entries(pkg.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (packages[key]) continue;
    const m = /-(android|darwin|linux|win32|freebsd)-(arm64|x64|armv7|ia32)(-musl)?$/.exec(name);
    if (!m)
      throw new Error(`${path}: optional dependency ${name} is missing from the lock and is not a platform build`);
    const entry = {
      version,
      cpu: [m[2] === "armv7" ? "arm" : m[2]],
      dev: pkg.dev === true || undefined,
      optional: true,
      os: [m[1]],
    };
    if (m[3]) entry.libc = ["musl"];
    packages[key] = entry;
    added.push(name);
  }
}
const sorted = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a < b ? -1 : 1)),
);
lock.packages = sorted;
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(
  added.length ? `added ${added.length} platform entries: ${added.join(", ")}` : "lock file already complete",
);
