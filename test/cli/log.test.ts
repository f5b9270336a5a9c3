/** The logger's two formats: JSON Lines parse back; pretty quotes what would be ambiguous. */
import { expect, test } from "bun:test";
import { Logger } from "../../src/cli/log.ts";

function capture(run: (log: Logger) => void, format: "json" | "pretty"): string {
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => {
    chunks.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    const log = new Logger("info", format, 3);
    run(log);
    log.flush();
  } finally {
    process.stdout.write = write;
  }
  return chunks.join("");
}

test("pretty: plain values bare, values with spaces, quotes or '=' quoted, so every field can be read back", () => {
  const out = capture(
    (log) =>
      log.info("peer-left", { peer: 2, reason: "SIGTERM", note: "read a different file", odd: 'a"b', eq: "k=v" }),
    "pretty",
  );
  expect(out).toContain('[3] peer-left peer=2 reason=SIGTERM note="read a different file" odd="a\\"b" eq="k=v"');
});

test("json: one object per line with ts, level, me and event", () => {
  const out = capture((log) => log.info("ready", { peers: 5 }), "json");
  const record = JSON.parse(out.trim()) as Record<string, unknown>;
  expect(record).toMatchObject({ level: "info", me: 3, event: "ready", peers: 5 });
});
