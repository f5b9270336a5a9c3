/**
 * Structured logging to stdout: JSON Lines by default (one event per line, with
 * a timestamp and my id), or a compact human form with `pretty`. stderr is kept
 * for READY and fatal errors only.
 */
export const LOG_LEVELS = ["debug", "info", "warn", "error", "off"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = "json" | "pretty";

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, off: 4 };

/** Lines waiting to be written; flushed at the end of the tick. Bounded: past this, the oldest are counted and dropped. */
const PENDING_LINES_MAX = 100_000;

export class Logger {
  private pending: string[] = [];
  private flushScheduled = false;
  /** Lines dropped because stdout could not keep up; reported in the next line written. */
  private linesDropped = 0;

  constructor(
    private readonly level: LogLevel,
    private readonly format: LogFormat,
    private readonly me: number | undefined,
    private readonly write: (text: string) => void = (text) => process.stdout.write(text),
  ) {}

  enabled(level: LogLevel): boolean {
    return RANK[level] >= RANK[this.level] && level !== "off";
  }

  debug(event: string, fields: Record<string, unknown> = {}): void {
    if (this.enabled("debug")) this.emit("debug", event, fields);
  }
  info(event: string, fields: Record<string, unknown> = {}): void {
    if (this.enabled("info")) this.emit("info", event, fields);
  }
  warn(event: string, fields: Record<string, unknown> = {}): void {
    if (this.enabled("warn")) this.emit("warn", event, fields);
  }
  error(event: string, fields: Record<string, unknown> = {}): void {
    if (this.enabled("error")) this.emit("error", event, fields);
  }

  /** Writes everything pending now (before exit). */
  flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const text = this.pending.join("");
    this.pending = [];
    this.write(text);
  }

  private emit(level: LogLevel, event: string, fields: Record<string, unknown>): void {
    if (this.pending.length >= PENDING_LINES_MAX) {
      this.linesDropped++;
      return;
    }
    if (this.linesDropped > 0) {
      const dropped = this.linesDropped;
      this.linesDropped = 0;
      this.emit("warn", "log-lines-dropped", { count: dropped });
    }
    const ts = new Date().toISOString();
    if (this.format === "json") {
      this.pending.push(`${JSON.stringify({ ts, level, me: this.me, event, ...fields })}\n`);
    } else {
      const rest = Object.entries(fields)
        .filter(([, v]) => v !== undefined)
        // Bare when unambiguous; quoted when a value has spaces, quotes or '=' (or is empty).
        .map(([k, v]) => `${k}=${typeof v === "string" && /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v)}`)
        .join(" ");
      this.pending.push(`${ts.slice(11, 23)} ${level.toUpperCase().padEnd(5)} [${this.me ?? "-"}] ${event} ${rest}\n`);
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }
}
