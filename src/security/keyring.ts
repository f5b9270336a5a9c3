/**
 * Key mode (docs/security.md): the shared keys a peer seals and opens frames
 * with, read from a key file, and the AES-256-GCM seal of one frame
 * (docs/wire-format.md, "Sealed frames").
 *
 * Every process seals with a frame key of its own, derived from the primary
 * key, its id, its epoch and a random 8-byte process salt; the nonce is the
 * process's packet number, which never repeats. So no (key, nonce) pair is
 * ever used twice, restarts and retransmissions included, without any state
 * that outlives a process.
 */
import { createCipheriv, createDecipheriv, createHash, createSecretKey, hkdfSync, type KeyObject } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { InputError } from "../errors.ts";
import {
  KEY_ID_BYTES,
  PACKET_NUMBER_MAX,
  PROCESS_SALT_BYTES,
  readPacketNumber,
  readUint32,
  SEAL_BYTES,
  TAG_BYTES,
  writePacketNumber,
  writeUint32,
} from "./seal-format.ts";

/** Bytes of a key: AES-256. */
export const KEY_BYTES = 32;
/** Keys one file may hold; a rotation needs two or three. */
export const KEYS_MAX = 16;
/**
 * Frame keys kept for processes that authenticated. Bounded: at the limit
 * the cache is emptied and keys are derived again (about 1 µs each).
 */
const FRAME_KEYS_MAX = 4096;

const KEY_ID_LABEL = new TextEncoder().encode("rollcall/1 key id");
const FRAME_KEY_LABEL = new TextEncoder().encode("rollcall/1 frame key");
const EMPTY = new Uint8Array(0);

/** One shared key: its id on the wire and the secret. */
interface Key {
  /** First 4 bytes of SHA-256("rollcall/1 key id" ‖ key), big-endian. */
  id: number;
  secret: Uint8Array;
}

/** The key id of a key, as written in sealed frames. */
export function keyIdOf(secret: Uint8Array): number {
  const digest = createHash("sha256").update(KEY_ID_LABEL).update(secret).digest();
  return digest.readUInt32BE(0);
}

/** HKDF-SHA256 of a key for one sending process (docs/wire-format.md, "Frame key"). */
export function deriveFrameKey(
  secret: Uint8Array,
  senderId: number,
  senderEpoch: number,
  salt: Uint8Array,
): Uint8Array {
  const info = new Uint8Array(FRAME_KEY_LABEL.length + 2 + 4 + PROCESS_SALT_BYTES);
  info.set(FRAME_KEY_LABEL, 0);
  const view = new DataView(info.buffer);
  view.setUint16(FRAME_KEY_LABEL.length, senderId);
  view.setUint32(FRAME_KEY_LABEL.length + 2, senderEpoch);
  info.set(salt, FRAME_KEY_LABEL.length + 6);
  return new Uint8Array(hkdfSync("sha256", secret, EMPTY, info, KEY_BYTES));
}

/**
 * The keys of a key file: the first (primary) seals, every one opens, so a
 * key is rotated by adding the new one second everywhere, then moving it
 * first everywhere, then removing the old one. Secrets never leave this
 * object: its string form names only the key ids.
 */
export class Keyring {
  readonly keys: readonly Key[];
  private readonly byId = new Map<number, Key>();
  private readonly frameKeys = new Map<string, KeyObject>();

  constructor(secrets: readonly Uint8Array[]) {
    if (secrets.length < 1 || secrets.length > KEYS_MAX)
      throw new RangeError(`a keyring holds 1..${KEYS_MAX} keys, got ${secrets.length}`);
    const keys: Key[] = [];
    for (const secret of secrets) {
      if (secret.length !== KEY_BYTES) throw new RangeError(`a key is ${KEY_BYTES} bytes, got ${secret.length}`);
      const key = { id: keyIdOf(secret), secret: Uint8Array.from(secret) };
      keys.push(key);
      if (!this.byId.has(key.id)) this.byId.set(key.id, key);
    }
    this.keys = keys;
  }

  /** The key that seals: the file's first. */
  get primary(): Key {
    return this.keys[0]!;
  }

  /** Key ids in file order, as hex, for logs. */
  get keyIds(): string[] {
    return this.keys.map((k) => k.id.toString(16).padStart(8, "0"));
  }

  has(keyId: number): boolean {
    return this.byId.has(keyId);
  }

  toString(): string {
    return `Keyring(${this.keyIds.join(", ")})`;
  }

  toJSON(): string {
    return this.toString();
  }

  /** console.log and Bun.inspect show the key ids, never the keys. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }

  /** A sealer for one process of mine. */
  sealer(senderId: number, senderEpoch: number, salt: Uint8Array, firstPacketNumber = 1): FrameSealer {
    const primary = this.primary;
    const frameKey = createSecretKey(deriveFrameKey(primary.secret, senderId, senderEpoch, salt));
    return new FrameSealer(primary.id, frameKey, Uint8Array.from(salt), firstPacketNumber);
  }

  /**
   * Opens a sealed frame in place of nothing: returns the plaintext body, or
   * undefined when the key id is unknown or the tag does not verify.
   * `frame` is the whole datagram; the checksum field is read as zero.
   */
  open(frame: Uint8Array, payloadStart: number, senderId: number, senderEpoch: number): Uint8Array | undefined {
    const keyId = readUint32(frame, payloadStart);
    const key = this.byId.get(keyId);
    if (key === undefined) return undefined;
    const salt = frame.subarray(payloadStart + KEY_ID_BYTES, payloadStart + KEY_ID_BYTES + PROCESS_SALT_BYTES);
    const cacheKey = `${keyId}:${senderId}:${senderEpoch}:${readUint32(salt, 0)}:${readUint32(salt, 4)}`;
    let frameKey = this.frameKeys.get(cacheKey);
    const derived = frameKey === undefined;
    if (frameKey === undefined) frameKey = createSecretKey(deriveFrameKey(key.secret, senderId, senderEpoch, salt));
    const plain = openWith(frameKey, frame, payloadStart);
    // Cached only once a frame authenticated: forged salts cost a derivation each, never memory.
    if (plain !== undefined && derived) {
      if (this.frameKeys.size >= FRAME_KEYS_MAX) this.frameKeys.clear();
      this.frameKeys.set(cacheKey, frameKey);
    }
    return plain;
  }
}

/** Seals the frames of one process: one frame key, packet numbers from 1. */
export class FrameSealer {
  private nextPacketNumber: number;

  constructor(
    readonly keyId: number,
    private readonly frameKey: KeyObject,
    readonly salt: Uint8Array,
    firstPacketNumber = 1,
  ) {
    this.nextPacketNumber = firstPacketNumber;
  }

  /** The packet number the next sealed frame will carry. */
  get packetNumber(): number {
    return this.nextPacketNumber;
  }

  /**
   * Seals a frame laid out as header (36 bytes, checksum field zero) ‖ seal
   * (36 bytes, filled in here) ‖ body ‖ 16 bytes for the tag: writes the key
   * id, salt and packet number, encrypts the body in place and writes the tag.
   */
  seal(frame: Uint8Array, payloadStart: number): void {
    if (this.nextPacketNumber > PACKET_NUMBER_MAX)
      throw new RangeError("packet numbers exhausted: restart the process (a new epoch and salt)");
    const packetNumber = this.nextPacketNumber++;
    writeUint32(frame, payloadStart, this.keyId);
    frame.set(this.salt, payloadStart + KEY_ID_BYTES);
    writePacketNumber(frame, payloadStart + KEY_ID_BYTES + PROCESS_SALT_BYTES, packetNumber);
    const bodyStart = payloadStart + SEAL_BYTES - TAG_BYTES;
    const bodyEnd = frame.length - TAG_BYTES;
    const cipher = createCipheriv("aes-256-gcm", this.frameKey, nonceOf(packetNumber));
    cipher.setAAD(frame.subarray(0, bodyStart));
    const encrypted = cipher.update(frame.subarray(bodyStart, bodyEnd));
    cipher.final();
    frame.set(encrypted, bodyStart);
    frame.set(cipher.getAuthTag(), bodyEnd);
  }
}

function openWith(frameKey: KeyObject, frame: Uint8Array, payloadStart: number): Uint8Array | undefined {
  const bodyStart = payloadStart + SEAL_BYTES - TAG_BYTES;
  const bodyEnd = frame.length - TAG_BYTES;
  const packetNumber = readPacketNumber(frame, payloadStart + KEY_ID_BYTES + PROCESS_SALT_BYTES);
  // The checksum is computed after the tag, so the tag covers the header with that field zero.
  const aad = frame.slice(0, bodyStart);
  aad[32] = 0;
  aad[33] = 0;
  aad[34] = 0;
  aad[35] = 0;
  try {
    const decipher = createDecipheriv("aes-256-gcm", frameKey, nonceOf(packetNumber));
    decipher.setAAD(aad);
    decipher.setAuthTag(frame.subarray(bodyEnd));
    const plain = decipher.update(frame.subarray(bodyStart, bodyEnd));
    decipher.final();
    return new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength);
  } catch {
    return undefined;
  }
}

function nonceOf(packetNumber: number): Uint8Array {
  const nonce = new Uint8Array(12);
  writePacketNumber(nonce, 4, packetNumber);
  return nonce;
}

const BASE64 = /^[A-Za-z0-9+/]{43}=$/;

/**
 * Parses key-file text: one key per line, the standard base64 of exactly 32
 * random bytes; blank lines and `#` comments ignored; the first key is the
 * primary. Errors name the file and line, never the key.
 */
export function parseKeyFile(file: string, text: string): Keyring {
  const secrets: Uint8Array[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const where = `${file}:${i + 1}`;
    if (!BASE64.test(line))
      throw new InputError(
        `${where}: not a key: a key is the standard base64 of 32 random bytes (44 characters ending in "="); make one with: head -c 32 /dev/urandom | base64`,
      );
    const secret = Uint8Array.from(Buffer.from(line, "base64"));
    if (secret.length !== KEY_BYTES) throw new InputError(`${where}: a key must decode to ${KEY_BYTES} bytes`);
    if (secrets.length === KEYS_MAX) throw new InputError(`${where}: more than ${KEYS_MAX} keys in one file`);
    secrets.push(secret);
  }
  if (secrets.length === 0)
    throw new InputError(`${file}: no key in the file: add one line with: head -c 32 /dev/urandom | base64`);
  return new Keyring(secrets);
}

/**
 * Reads a key file. Refuses one that others can read (as ssh does with
 * private keys): the key is the group's only secret.
 */
export function loadKeyFile(file: string): Keyring {
  let mode: number;
  let text: string;
  try {
    mode = statSync(file).mode;
    text = readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(`cannot read key file ${file}: ${code ?? (error as Error).message}`);
  }
  if ((mode & 0o077) !== 0)
    throw new InputError(
      `key file ${file} is open to group or others (mode ${(mode & 0o777).toString(8)}): run chmod 600 ${file}`,
    );
  return parseKeyFile(file, text);
}
