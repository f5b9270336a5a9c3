/** ns per operation of `op`, run in batches of 256 for about `ms` milliseconds after 200 warm-up calls. */
export function measure(op: () => void, ms: number): number {
  for (let i = 0; i < 200; i++) op();
  let iterations = 0;
  const start = Bun.nanoseconds();
  const deadline = start + ms * 1e6;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 256; i++) op();
    iterations += 256;
    now = Bun.nanoseconds();
  }
  return (now - start) / iterations;
}
