/**
 * One fault model for every place that injects faults: the `--chaos` wrapper
 * around a real socket and the simulator's network. Given a datagram, it
 * decides how many copies arrive, which are corrupted, and how late each is.
 */
import { InputError } from "../errors.ts";
import { CHECKSUM_OFFSET, frameChecksum } from "../wire/frame.ts";

export interface LinkFaults {
  /** Probability that a datagram is lost. */
  loss: number;
  /** Probability that a datagram arrives twice. */
  duplicate: number;
  /** Probability that one random bit of a copy is flipped. */
  corrupt: number;
  /** Delay added to every datagram, in ms. */
  delayMs: number;
  /** Uniform extra delay in [0, jitterMs) per datagram (it also reorders them). */
  jitterMs: number;
  /** Probability that a datagram is held back by up to `reorderMs` more, so later ones overtake it. */
  reorder: number;
  reorderMs: number;
  /**
   * Probability that the last byte of a copy is changed and the checksum
   * recomputed: a corruption no checksum catches. Never set outside tests
   * that show a safety checker notices it.
   */
  forge?: number;
}

export const NO_FAULTS: Readonly<LinkFaults> = {
  loss: 0,
  duplicate: 0,
  corrupt: 0,
  delayMs: 0,
  jitterMs: 0,
  reorder: 0,
  reorderMs: 0,
};

/** One copy of a datagram that survives the link, and when it arrives. */
export interface Arrival {
  bytes: Uint8Array;
  delayMs: number;
}

/** True when the faults can change anything. */
export function faultsActive(f: LinkFaults): boolean {
  return (
    f.loss > 0 ||
    f.duplicate > 0 ||
    f.corrupt > 0 ||
    f.delayMs > 0 ||
    f.jitterMs > 0 ||
    (f.reorder > 0 && f.reorderMs > 0) ||
    (f.forge ?? 0) > 0
  );
}

/**
 * What the link does to one datagram: no arrival (lost), one, or two
 * (duplicated). `random` returns uniform numbers in [0, 1): `Math.random`
 * for chaos, a seeded generator in the simulator. A corrupted copy is a new
 * array; the caller's bytes are never modified.
 */
export function applyFaults(f: LinkFaults, random: () => number, bytes: Uint8Array): Arrival[] {
  if (f.loss > 0 && random() < f.loss) return [];
  const copies = f.duplicate > 0 && random() < f.duplicate ? 2 : 1;
  const arrivals: Arrival[] = [];
  for (let c = 0; c < copies; c++) {
    let data = bytes;
    if (f.corrupt > 0 && random() < f.corrupt && data.length > 0) {
      data = bytes.slice();
      const bit = Math.floor(random() * data.length * 8);
      data[bit >> 3]! ^= 1 << (bit & 7);
    }
    if (f.forge !== undefined && f.forge > 0 && random() < f.forge && data.length > CHECKSUM_OFFSET + 4) {
      data = bytes.slice();
      data[data.length - 1]! ^= 0x01;
      new DataView(data.buffer).setUint32(CHECKSUM_OFFSET, frameChecksum(data));
    }
    let delayMs = f.delayMs + (f.jitterMs > 0 ? random() * f.jitterMs : 0);
    if (f.reorder > 0 && random() < f.reorder) delayMs += random() * f.reorderMs;
    arrivals.push({ bytes: data, delayMs });
  }
  return arrivals;
}

/** Each `--chaos` key: the field it sets, and whether it is a probability or milliseconds. */
const CHAOS_KEYS: Record<string, { field: keyof LinkFaults; unit: "probability" | "ms" }> = {
  loss: { field: "loss", unit: "probability" },
  dup: { field: "duplicate", unit: "probability" },
  corrupt: { field: "corrupt", unit: "probability" },
  reorder: { field: "reorder", unit: "probability" },
  delay: { field: "delayMs", unit: "ms" },
  jitter: { field: "jitterMs", unit: "ms" },
  "reorder-ms": { field: "reorderMs", unit: "ms" },
};
const CHAOS_KEY_LIST = Object.keys(CHAOS_KEYS).join(", ");

/**
 * Parses a `--chaos` spec, `key=value,...` (for example
 * `loss=0.3,dup=0.05,corrupt=0.01,delay=20,jitter=10`); throws InputError
 * naming the bad part.
 */
export function parseChaos(spec: string): LinkFaults {
  const faults: LinkFaults = { ...NO_FAULTS };
  for (const part of spec.split(",").map((p) => p.trim())) {
    if (part === "") continue;
    const [key, value, extra] = part.split("=");
    if (value === undefined || extra !== undefined) {
      throw new InputError(`--chaos: "${part}" is not key=value (keys: ${CHAOS_KEY_LIST})`);
    }
    const known = Object.hasOwn(CHAOS_KEYS, key!) ? CHAOS_KEYS[key!] : undefined;
    if (known === undefined) throw new InputError(`--chaos: unknown key "${key}" (keys: ${CHAOS_KEY_LIST})`);
    const v = Number(value);
    if (known.unit === "probability" && !(v >= 0 && v <= 1))
      throw new InputError(`--chaos: ${key} must be a probability from 0 to 1, got "${value}"`);
    if (known.unit === "ms" && !(v >= 0 && v <= 60_000))
      throw new InputError(`--chaos: ${key} must be milliseconds from 0 to 60000, got "${value}"`);
    faults[known.field] = v;
  }
  if (faults.reorder > 0 && faults.reorderMs === 0) faults.reorderMs = 50;
  return faults;
}
