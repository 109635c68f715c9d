// A small in-process rate limit: at most `limit` uses of a key in a fixed
// window. It lives in the panel process's memory, so each replica counts for
// itself and a restart forgets; that is enough for login attempts and Clear
// cache, which only need to stay slow, not exact.

type Window = { start: number; count: number };

// Kept on globalThis: Next.js may load this module more than once (a copy per
// route bundle), and a limit must have one count per process.
const shared = globalThis as typeof globalThis & { __panelRateLimits?: Map<string, Map<string, Window>> };
const windowsByName = (shared.__panelRateLimits ??= new Map());

export class RateLimit {
  private readonly windows: Map<string, Window>;

  /** `name` identifies the limit across module copies; `limit` uses per `windowMs`. */
  constructor(
    name: string,
    private readonly limit: number,
    private readonly windowMs: number,
  ) {
    if (!windowsByName.has(name)) windowsByName.set(name, new Map());
    this.windows = windowsByName.get(name)!;
  }

  /** Seconds until `key` may be used again; 0 when it may be now. */
  wait(key: string, now = Date.now()): number {
    const w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs || w.count < this.limit) return 0;
    return Math.max(1, Math.ceil((w.start + this.windowMs - now) / 1000));
  }

  /** Counts one use of `key`. */
  hit(key: string, now = Date.now()): void {
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs) {
      this.forgetExpired(now);
      w = { start: now, count: 0 };
      this.windows.set(key, w);
    }
    w.count++;
  }

  /** Counts one use when allowed and returns 0; otherwise the seconds to wait, counting nothing. */
  take(key: string, now = Date.now()): number {
    const wait = this.wait(key, now);
    if (wait === 0) this.hit(key, now);
    return wait;
  }

  reset(key: string): void {
    this.windows.delete(key);
  }

  /** Many keys (client addresses) must not grow the map for ever. */
  private forgetExpired(now: number): void {
    if (this.windows.size < 1000) return;
    for (const [key, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(key);
  }
}
