// One API request with a media URL and many targets becomes one send per target; the edge marks
// them with a shared key so the host downloads the file once, not once per target (50 targets
// used to mean 50 downloads at once). The file is kept briefly for the sends still to come (the
// outbox may spread them over minutes), within a byte budget, oldest dropped first.
import type { PreparedMedia } from './media-convert.ts';

export interface SharedMediaOptions {
  /** How long a file stays after its last use. */
  ttlMs: number;
  /** Bytes kept at most; a larger file is fetched and used, not kept. */
  maxBytes: number;
}

interface Entry {
  media: Promise<PreparedMedia>;
  bytes: number;
  usedAt: number;
}

export class SharedMedia {
  private readonly entries = new Map<string, Entry>();
  private readonly options: SharedMediaOptions;
  private kept = 0;

  constructor(options: SharedMediaOptions) {
    this.options = options;
  }

  /** The file under `key`, fetched by `fetch` only if no send of the same request has (or is doing it). */
  get(key: string, fetch: () => Promise<PreparedMedia>): Promise<PreparedMedia> {
    this.expire();
    const hit = this.entries.get(key);
    if (hit) {
      // Most recently used last, so the budget drops the stalest first.
      this.entries.delete(key);
      this.entries.set(key, { ...hit, usedAt: Date.now() });
      return hit.media;
    }
    const media = fetch();
    const entry: Entry = { media, bytes: 0, usedAt: Date.now() };
    this.entries.set(key, entry);
    media.then(
      (m) => {
        if (this.entries.get(key)?.media !== media) return;
        if (m.bytes.length > this.options.maxBytes) return void this.entries.delete(key);
        this.entries.set(key, { ...this.entries.get(key)!, bytes: m.bytes.length });
        this.kept += m.bytes.length;
        this.expire();
      },
      // A failed download is not kept: the next send of the request tries again.
      () => this.entries.get(key)?.media === media && this.entries.delete(key),
    );
    return media;
  }

  private expire(): void {
    const cutoff = Date.now() - this.options.ttlMs;
    for (const [key, entry] of this.entries) {
      if (entry.usedAt >= cutoff && this.kept <= this.options.maxBytes) break;
      if (entry.usedAt >= cutoff && !entry.bytes) continue; // still downloading
      this.entries.delete(key);
      this.kept -= entry.bytes;
    }
  }

  /** Files kept and their bytes (for /metrics and tests). */
  get stats(): { files: number; bytes: number } {
    return { files: this.entries.size, bytes: this.kept };
  }
}
