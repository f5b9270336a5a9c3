/**
 * Fault injection in the Bun driver (`--chaos`), for demos, tests and
 * benchmarks on real sockets: outgoing datagrams are dropped, duplicated,
 * corrupted (one bit flipped) or delayed (delay with jitter also reorders them).
 *
 *   --chaos loss=0.3,dup=0.05,corrupt=0.01,delay=20,jitter=10
 */
import { InputError } from "../hosts/hosts.ts";

export interface Chaos {
  /** Probability an outgoing datagram is dropped. */
  loss: number;
  /** Probability an outgoing datagram is sent twice. */
  dup: number;
  /** Probability one random bit of an outgoing datagram is flipped. */
  corrupt: number;
  /** Fixed delay added to every outgoing datagram, in ms. */
  delay: number;
  /** Uniform extra delay in [0, jitter) ms per datagram. */
  jitter: number;
}

export const NO_CHAOS: Chaos = { loss: 0, dup: 0, corrupt: 0, delay: 0, jitter: 0 };

export function chaosActive(c: Chaos): boolean {
  return c.loss > 0 || c.dup > 0 || c.corrupt > 0 || c.delay > 0 || c.jitter > 0;
}

/** Parses `key=value,...`; throws InputError naming the bad part. */
export function parseChaos(spec: string): Chaos {
  const chaos = { ...NO_CHAOS };
  for (const part of spec.split(",").map((p) => p.trim())) {
    if (part === "") continue;
    const [key, value, extra] = part.split("=");
    if (value === undefined || extra !== undefined) {
      throw new InputError(`--chaos: "${part}" is not key=value (keys: loss, dup, corrupt, delay, jitter)`);
    }
    const v = Number(value);
    switch (key) {
      case "loss":
      case "dup":
      case "corrupt":
        if (!(v >= 0 && v <= 1))
          throw new InputError(`--chaos: ${key} must be a probability from 0 to 1, got "${value}"`);
        chaos[key] = v;
        break;
      case "delay":
      case "jitter":
        if (!(v >= 0 && v <= 60_000))
          throw new InputError(`--chaos: ${key} must be milliseconds from 0 to 60000, got "${value}"`);
        chaos[key] = v;
        break;
      default:
        throw new InputError(`--chaos: unknown key "${key}" (keys: loss, dup, corrupt, delay, jitter)`);
    }
  }
  return chaos;
}
