import { describe, expect, test } from "bun:test";
import { InputError } from "../../src/errors.ts";
import { canonical, findSelf, parseHosts } from "../../src/hosts/hosts.ts";

const parse = (text: string, port?: number) => parseHosts("hosts.txt", text, port);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("parsing", () => {
  test("every accepted form, with comments and blank lines; ids count entries only", () => {
    const list = parse(`# the group
alpha

Beta:9000   # trailing comment
192.0.2.7
192.0.2.8:7001
[2001:db8::1]:7002
2001:db8::2
`);
    expect(list.entries.map((e) => [e.id, e.line, e.host, e.port, e.kind])).toEqual([
      [1, 2, "alpha", 7700, "name"],
      [2, 4, "beta", 9000, "name"],
      [3, 5, "192.0.2.7", 7700, "ipv4"],
      [4, 6, "192.0.2.8", 7001, "ipv4"],
      [5, 7, "2001:db8::1", 7002, "ipv6"],
      [6, 8, "2001:db8::2", 7700, "ipv6"],
    ]);
    expect(list.entries.map(canonical)).toEqual([
      "alpha:7700",
      "beta:9000",
      "192.0.2.7:7700",
      "192.0.2.8:7001",
      "[2001:db8::1]:7002",
      "[2001:db8::2]:7700",
    ]);
  });

  test("--port sets the port of entries without one", () => {
    expect(parse("a\nb:1\n", 5000).entries.map((e) => e.port)).toEqual([5000, 1]);
  });

  test("Windows line endings are accepted", () => {
    expect(parse("a\r\nb\r\n").entries.map((e) => e.host)).toEqual(["a", "b"]);
  });

  const bad: [string, string, RegExp][] = [
    ["empty file", "", /hosts\.txt: no peers in the file .*add one line per peer/],
    ["only comments", "# nothing\n\n   # here\n", /no peers in the file/],
    ["duplicate", "a\nb\nA\n", /hosts\.txt:3: "A" is the same peer as line 1 \("a"\)/],
    ["duplicate via default port", "a:7700\na\n", /hosts\.txt:2: .*same peer as line 1/],
    ["port not a number", "a:http\n", /hosts\.txt:1: port "http" in "a:http" is not a number from 1 to 65535/],
    ["port zero", "a\nb:0\n", /hosts\.txt:2: port "0"/],
    ["port too large", "a:70000\n", /port "70000"/],
    ["empty port", "a:\n", /port "" in "a:"/],
    ["spaces inside", "a b\n", /hosts\.txt:1: "a b" has spaces inside/],
    ["bad IPv4", "999.1.1.1\n", /"999\.1\.1\.1" looks like an IPv4 address but is not a valid one/],
    ["bad name", "bad_host!\n", /"bad_host!" is not a valid host name/],
    ["unclosed bracket", "[::1:7000\n", /opens "\[" without closing "\]"/],
    ["not IPv6 in brackets", "[abc]:1\n", /"abc" inside \[ \] is not an IPv6 address/],
    ["junk after bracket", "[::1]x\n", /expected ":port" after "\]"/],
  ];
  for (const [what, text, message] of bad) {
    test(`rejects ${what} with file, line and the fix`, () => {
      expect(() => parse(text)).toThrow(InputError);
      expect(() => parse(text)).toThrow(message);
    });
  }

  test("rejects more peers than the limit", () => {
    const text = Array.from({ length: 4097 }, (_, i) => `10.0.${i >> 8}.${i & 255}`).join("\n");
    expect(() => parse(text)).toThrow(/hosts\.txt:4097: more than 4096 peers/);
  });
});

describe("digest", () => {
  test("the same list written differently has the same digest", () => {
    const a = parse("alpha\nbeta:9000\n");
    const b = parse("# comment\nALPHA:7700\n\n  beta:9000  # x\n");
    expect(hex(a.digest)).toBe(hex(b.digest));
    expect(a.digest.length).toBe(32);
  });
  test("order, ports and names change it", () => {
    const base = hex(parse("a\nb\n").digest);
    expect(hex(parse("b\na\n").digest)).not.toBe(base);
    expect(hex(parse("a\nb\n", 7701).digest)).not.toBe(base);
    expect(hex(parse("a\nc\n").digest)).not.toBe(base);
  });
});

describe("finding myself", () => {
  const list = parse("alpha\n127.0.0.1:7001\n127.0.0.1:7002\nBeta.example:9000\n");
  test("by name, case-insensitively", () => {
    expect(findSelf(list, "ALPHA").id).toBe(1);
    expect(findSelf(list, "beta.EXAMPLE").id).toBe(4);
  });
  test("by entry as written or canonical", () => {
    expect(findSelf(list, "127.0.0.1:7002").id).toBe(3);
    expect(findSelf(list, "alpha:7700").id).toBe(1);
  });
  test("by the first label of a DNS name, as a Kubernetes pod's hostname", () => {
    const k8s = parse("rollcall-0.rollcall.default.svc.cluster.local\nrollcall-1.rollcall.default.svc.cluster.local\n");
    expect(findSelf(k8s, "rollcall-1").id).toBe(2);
    expect(() => findSelf(k8s, "rollcall-2")).toThrow(/not in the file/);
  });
  test("an ambiguous host asks for host:port", () => {
    expect(() => findSelf(list, "127.0.0.1")).toThrow(
      /matches line 2 \(127\.0\.0\.1:7001\), line 3 .*pass --name host:port/,
    );
  });
  test("a name not in the file lists the names that are", () => {
    expect(() => findSelf(list, "gamma")).toThrow(
      /my name "gamma" is not in the file; pass --name with one of: alpha, 127\.0\.0\.1:7001, 127\.0\.0\.1:7002, Beta\.example:9000/,
    );
  });
});

test("IP syntax (src/hosts/ip.ts) agrees with node:net on generated addresses, valid and not", async () => {
  const { isIPv4: n4, isIPv6: n6 } = await import("node:net");
  const { isIPv4, isIPv6 } = await import("../../src/hosts/ip.ts");
  const fc = (await import("fast-check")).default;
  const hex = fc.string({ unit: fc.constantFrom(..."0123456789abcdefABCDEF"), maxLength: 5 });
  const v4 = fc.tuple(fc.nat(300), fc.nat(300), fc.nat(300), fc.nat(300)).map((a) => a.join("."));
  const seg = fc.oneof(hex, hex, hex, fc.constant(""), v4);
  const addr = fc
    .tuple(fc.array(seg, { minLength: 1, maxLength: 10 }), fc.option(fc.string({ maxLength: 5 })))
    .map(([segs, zone]) => segs.join(":") + (zone === null ? "" : `%${zone}`));
  let valid = 0;
  fc.assert(
    fc.property(fc.oneof(addr, v4, fc.string({ maxLength: 20 })), (s) => {
      if (n4(s) || n6(s)) valid++;
      return isIPv4(s) === n4(s) && isIPv6(s) === n6(s);
    }),
    { seed: 3, numRuns: 20_000 },
  );
  expect(valid).toBeGreaterThan(2000);
});
