// WhatsApp's preview card for a link in a text: title, description and a small thumbnail. The
// sender's phone makes the card (WhatsApp's servers never fetch the page), so the host does: the
// page and its image come through the guarded fetcher, as media does, since the URL is the
// caller's. A preview is a nicety: whatever goes wrong, the text goes out without one.
import type { WAUrlInfo } from '@whiskeysockets/baileys';
import sharp from 'sharp';
import { safeRequest } from './net/safe-request.ts';

export interface LinkPreviewOptions {
  /** Each fetch (the page, then its image) gives up after this long. */
  timeoutMs: number;
  allowPrivateNetworks: boolean;
  /** How long a URL's preview (or the lack of one) is reused, and how many are kept. */
  ttlMs?: number;
  maxEntries?: number;
}

/** The head of a page is all a preview needs: the rest is never read. */
const HTML_BYTES = 512 * 1024;
const IMAGE_BYTES = 8 * 1024 * 1024;
/** Baileys' own thumbnail width: what WhatsApp shows in the card. */
const THUMBNAIL_PX = 192;

// A URL as people write it in a text, without the punctuation that usually follows one.
const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"']+/i;
const TRAILING = /[.,;:!?)\]}'"]+$/;

/** The first http(s) URL in `text`, as written there. */
export function urlInText(text: string): string | undefined {
  return text.match(URL_IN_TEXT)?.[0].replace(TRAILING, '');
}

export class LinkPreviews {
  private readonly options: Required<LinkPreviewOptions>;
  /** URL → its preview being made or made; insertion order is age, so the oldest goes first. */
  private readonly cache = new Map<string, { expires: number; preview: Promise<WAUrlInfo | undefined> }>();

  constructor(options: LinkPreviewOptions) {
    this.options = { ttlMs: 10 * 60_000, maxEntries: 500, ...options };
  }

  /**
   * The card for the first URL in `text`, or undefined (no URL, or no preview to be had). Never
   * throws. A bulk send of one link fetches it once: the same URL shares one fetch while it is cached.
   */
  forText(text: string): Promise<WAUrlInfo | undefined> {
    const url = urlInText(text);
    if (!url) return Promise.resolve(undefined);
    const now = Date.now();
    const hit = this.cache.get(url);
    if (hit && hit.expires > now) return hit.preview;
    this.cache.delete(url);
    // Every entry lives as long, so the expired ones are all at the front; past those, the oldest makes room.
    for (const [key, entry] of this.cache) {
      if (entry.expires > now && this.cache.size < this.options.maxEntries) break;
      this.cache.delete(key);
    }
    const preview = this.make(url).catch(() => undefined);
    this.cache.set(url, { expires: now + this.options.ttlMs, preview });
    return preview;
  }

  private async make(url: string): Promise<WAUrlInfo | undefined> {
    const page = await this.fetch(url, { maxBytes: HTML_BYTES, truncateBody: true }, 'text/html,application/xhtml+xml');
    if (!/html/i.test(String(page.headers['content-type'] ?? 'text/html'))) return undefined;
    const meta = pageMeta(page.body.toString('utf8'));
    if (!meta.title) return undefined;
    const image = meta.image && new URL(meta.image, page.url).href;
    return {
      'canonical-url': meta.url ? new URL(meta.url, page.url).href : page.url,
      'matched-text': url,
      title: meta.title,
      description: meta.description,
      jpegThumbnail: image ? await this.thumbnail(image).catch(() => undefined) : undefined,
      originalThumbnailUrl: image,
    };
  }

  /** The page's image as WhatsApp's small inline JPEG. */
  private async thumbnail(url: string): Promise<Buffer> {
    const image = await this.fetch(url, { maxBytes: IMAGE_BYTES, truncateBody: false }, 'image/*');
    return sharp(image.body).resize(THUMBNAIL_PX, THUMBNAIL_PX, { fit: 'inside', withoutEnlargement: true }).jpeg({ quality: 60 }).toBuffer();
  }

  private async fetch(url: string, size: { maxBytes: number; truncateBody: boolean }, accept: string) {
    const { timeoutMs, allowPrivateNetworks } = this.options;
    const res = await safeRequest(url, { timeoutMs, allowPrivateNetworks, ...size, headers: { accept }, label: 'link preview URL' });
    if (res.status < 200 || res.status > 299) throw new Error(`link preview: ${res.status} from the page`);
    return res;
  }
}

/** What a page says about itself: Open Graph tags, else its <title> and meta description. */
export function pageMeta(html: string): { title?: string; description?: string; image?: string; url?: string } {
  const tags = new Map<string, string>();
  for (const [tag] of html.matchAll(/<meta\b[^>]*>/gi)) {
    const attrs = attributesOf(tag);
    const name = (attrs.property ?? attrs.name)?.toLowerCase();
    if (name && attrs.content !== undefined && !tags.has(name)) tags.set(name, attrs.content);
  }
  const title = html.match(/<title[^>]*>([\s\S]*?)<\/title>/i)?.[1];
  const text = (value: string | undefined) => (value === undefined ? undefined : decodeEntities(value).replace(/\s+/g, ' ').trim() || undefined);
  return {
    title: text(tags.get('og:title') ?? title),
    description: text(tags.get('og:description') ?? tags.get('description')),
    image: text(tags.get('og:image') ?? tags.get('og:image:url')),
    url: text(tags.get('og:url')),
  };
}

function attributesOf(tag: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  for (const [, name, double, single, bare] of tag.matchAll(/([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/g)) {
    attrs[name!.toLowerCase()] = double ?? single ?? bare ?? '';
  }
  return attrs;
}

const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

function decodeEntities(value: string): string {
  return value.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (entity, code: string) => {
    if (code[0] === '#') {
      const point = code[1] === 'x' || code[1] === 'X' ? Number.parseInt(code.slice(2), 16) : Number(code.slice(1));
      return point > 0 && point <= 0x10ffff ? String.fromCodePoint(point) : entity;
    }
    return NAMED[code.toLowerCase()] ?? entity;
  });
}
