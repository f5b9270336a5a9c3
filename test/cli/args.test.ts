/** The peer's own argument parser against node:util's parseArgs, whose behaviour and messages it keeps. */
import { expect, test } from "bun:test";
import { parseArgs } from "node:util";
import { type FlagSpec, parseFlags } from "../../src/cli/args.ts";

const OPTIONS: Record<string, FlagSpec> = {
  hosts: { type: "string", short: "h" },
  name: { type: "string" },
  port: { type: "string" },
  help: { type: "boolean" },
  version: { type: "boolean" },
};

const reference = (argv: string[]) =>
  parseArgs({ args: argv, options: OPTIONS as never, strict: true, allowPositionals: false }).values;

test("valid command lines give the same values", () => {
  const lines = [
    [],
    ["-h", "hosts.txt"],
    ["-hhosts.txt"],
    ["--hosts", "a", "--hosts", "b"],
    ["--hosts=a=b", "--name", "x:1"],
    ["--name", "-"],
    ["--port", "7700", "--help"],
    ["--version"],
    ["--name="],
    ["-h", "f", "--"],
  ];
  for (const argv of lines) {
    const mine: Record<string, unknown> = { ...parseFlags(argv, OPTIONS) };
    const theirs: Record<string, unknown> = { ...(reference(argv) as object) };
    expect({ argv, values: mine }).toEqual({ argv, values: theirs });
  }
});

test("invalid command lines fail in both, with parseArgs's message (the first sentence of it)", () => {
  const lines = [["--bogus"], ["-x"], ["extra"], ["--port"], ["-h"], ["--help=yes"], ["-h", "f", "--", "x"]];
  for (const argv of lines) {
    let mine = "";
    let theirs = "";
    try {
      parseFlags(argv, OPTIONS);
    } catch (error) {
      mine = (error as Error).message;
    }
    try {
      reference(argv);
    } catch (error) {
      theirs = (error as Error).message;
    }
    expect(mine).not.toBe("");
    expect(theirs).not.toBe("");
    expect(theirs.startsWith(mine.split(";")[0]!)).toBe(true);
  }
  // A value that looks like a flag is refused in both (parseArgs calls it ambiguous too).
  expect(() => parseFlags(["--port", "--name"], OPTIONS)).toThrow("argument is ambiguous");
  expect(() => reference(["--port", "--name"])).toThrow("ambiguous");
});

test("inherited property names are not options", () => {
  expect(() => parseFlags(["--constructor", "x"], OPTIONS)).toThrow("Unknown option '--constructor'");
  expect(() => parseFlags(["--hasOwnProperty", "y"], OPTIONS)).toThrow("Unknown option");
});
