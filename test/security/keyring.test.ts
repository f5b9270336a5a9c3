import { expect, test } from "bun:test";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InputError } from "../../src/errors.ts";
import { Keyring, loadKeyFile, parseKeyFile } from "../../src/security/keyring.ts";
import { REPLAY_WINDOW, ReplayWindow } from "../../src/security/replay.ts";

const KEY = Buffer.from(Uint8Array.from({ length: 32 }, (_, i) => i)).toString("base64");
const KEY2 = Buffer.from(Uint8Array.from({ length: 32 }, (_, i) => 255 - i)).toString("base64");

test("a key file: comments and blank lines ignored, the first key seals, every key listed", () => {
  const ring = parseKeyFile("k", `# rotation under way\n\n  ${KEY}  \n${KEY2}\n`);
  expect(ring.keys.length).toBe(2);
  expect(ring.keyIds.length).toBe(2);
  expect(ring.primary.id).toBe(ring.keys[0]!.id);
  // No secret in its printed forms.
  for (const text of [
    String(ring),
    JSON.stringify({ ring }),
    ring.keyIds.join(),
    Bun.inspect(ring),
    Bun.inspect({ ring }),
  ]) {
    expect(text).not.toContain("Uint8Array");
    expect(text).not.toContain(KEY);
    expect(text).not.toContain(KEY.slice(0, 12));
  }
});

test.each([
  ["not base64", "not-a-key\n", /k:1: not a key/],
  ["16 bytes", `${Buffer.alloc(16).toString("base64")}\n`, /k:1: not a key/],
  ["a second line that is short", `${KEY}\n${KEY.slice(0, 40)}\n`, /k:2: not a key/],
  ["nothing but comments", "# empty\n\n", /k: no key in the file/],
  ["17 keys", `${KEY}\n`.repeat(17), /k:17: more than 16 keys/],
])("a bad key file (%s) is an InputError naming the line, never the key", (_what, text, message) => {
  let error: unknown;
  try {
    parseKeyFile("k", text);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(InputError);
  expect((error as Error).message).toMatch(message);
  expect((error as Error).message).not.toContain(KEY.slice(0, 12));
});

test("a key file open to group or others is refused with the command that fixes it", () => {
  const dir = mkdtempSync(join(tmpdir(), "rollcall-key-"));
  const file = join(dir, "key");
  writeFileSync(file, `${KEY}\n`);
  chmodSync(file, 0o644);
  expect(() => loadKeyFile(file)).toThrow(/open to group or others \(mode 644\): run chmod 600/);
  chmodSync(file, 0o600);
  expect(loadKeyFile(file).keys.length).toBe(1);
  expect(() => loadKeyFile(join(dir, "missing"))).toThrow(/cannot read key file .*ENOENT/);
});

test("keys must be 32 bytes", () => {
  expect(() => new Keyring([new Uint8Array(31)])).toThrow(/32 bytes/);
  expect(() => new Keyring([])).toThrow(/1\.\.16 keys/);
});

test("replay window: each packet number once, out of order within the window, nothing older", () => {
  const w = new ReplayWindow();
  const accept = (pn: number) => {
    if (w.isReplay(pn)) return false;
    w.record(pn);
    return true;
  };
  expect(accept(5)).toBe(true);
  expect(accept(5)).toBe(false);
  expect(accept(3)).toBe(true);
  expect(accept(3)).toBe(false);
  expect(accept(4000)).toBe(true);
  expect(accept(4000 - REPLAY_WINDOW + 1)).toBe(true);
  expect(accept(4000 - REPLAY_WINDOW)).toBe(false);
  expect(accept(3999)).toBe(true);
  // A jump of one slides the window: the slot of 4000 - 1023 becomes 4001's.
  expect(accept(4001)).toBe(true);
  expect(accept(4001 - REPLAY_WINDOW + 1)).toBe(true);
  expect(accept(4000 - REPLAY_WINDOW + 1)).toBe(false);
});
