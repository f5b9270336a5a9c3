/**
 * One sender's messages in a view, held from the moment they arrive until
 * every member holds them (a view change may need them for the flush).
 *
 * Bodies are copied into shared chunks rather than kept as the views the
 * decoder handed over: an array of small views kept every datagram buffer
 * alive for the stability interval, and the collector's work on so many
 * middle-aged objects cost the multicast about a tenth of its rate
 * (docs/benchmarks.md, "Process groups"). Per message only three numbers
 * are kept, in plain arrays of small integers.
 */

/** Bodies are packed into chunks of this many bytes; a larger body gets a chunk of its own. */
const CHUNK_BYTES = 16 * 1024;
/** The arrays' consumed front is cut off once it is this long and more than half of them. */
const COMPACT_AT = 1024;

export class MessageLog {
  /** Seqs 1..base were forgotten. */
  base = 0;
  private readonly chunks: Uint8Array[] = [];
  /** The chunk number of `chunks[0]` (chunk numbers count up from 0 for the life of the log). */
  private firstChunk = 0;
  /** Bytes used in the last chunk. */
  private fill = 0;
  /** Per message held, from `head` on (seq base+1 first): its chunk number, offset and length. */
  private readonly chunkOf: number[] = [];
  private readonly offsetOf: number[] = [];
  private readonly lengthOf: number[] = [];
  private head = 0;

  /** Messages held (seqs base+1 .. base+length). */
  get length(): number {
    return this.chunkOf.length - this.head;
  }

  /** Holds a copy of `body` as the next seq. */
  push(body: Uint8Array): void {
    let last = this.chunks[this.chunks.length - 1];
    if (last === undefined || this.fill + body.length > last.length) {
      last = new Uint8Array(Math.max(CHUNK_BYTES, body.length));
      this.chunks.push(last);
      this.fill = 0;
    }
    last.set(body, this.fill);
    this.chunkOf.push(this.firstChunk + this.chunks.length - 1);
    this.offsetOf.push(this.fill);
    this.lengthOf.push(body.length);
    this.fill += body.length;
  }

  /** The body of `seq`, or undefined if it was forgotten or never held. The bytes stay valid: a chunk is never written twice. */
  get(seq: number): Uint8Array | undefined {
    const i = this.head + seq - 1 - this.base;
    if (seq <= this.base || i >= this.chunkOf.length) return undefined;
    const chunk = this.chunks[this.chunkOf[i]! - this.firstChunk]!;
    const offset = this.offsetOf[i]!;
    return chunk.subarray(offset, offset + this.lengthOf[i]!);
  }

  /** Forgets seqs up to `seq` (every member holds them), and the chunks only they used. */
  forgetThrough(seq: number): void {
    const n = Math.min(seq - this.base, this.length);
    if (n <= 0) return;
    this.head += n;
    this.base += n;
    // The chunk the oldest remaining message is in, or the last one (still being filled) if none remains.
    const keepFrom = this.length > 0 ? this.chunkOf[this.head]! : this.firstChunk + this.chunks.length - 1;
    if (keepFrom > this.firstChunk) {
      this.chunks.splice(0, keepFrom - this.firstChunk);
      this.firstChunk = keepFrom;
    }
    if (this.head >= COMPACT_AT && this.head * 2 > this.chunkOf.length) {
      this.chunkOf.splice(0, this.head);
      this.offsetOf.splice(0, this.head);
      this.lengthOf.splice(0, this.head);
      this.head = 0;
    }
  }
}
