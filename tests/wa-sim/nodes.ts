// Small helpers for reading and building binary nodes (stanzas).
import { getBinaryNodeChild, getBinaryNodeChildren, type BinaryNode } from '@whiskeysockets/baileys';

export type { BinaryNode };
export { getBinaryNodeChild as child, getBinaryNodeChildren as children };

export const node = (tag: string, attrs: Record<string, string> = {}, content?: BinaryNode['content']): BinaryNode => (content === undefined ? { tag, attrs } : { tag, attrs, content });

/** Raw bytes of a leaf, whether the decoder gave a Buffer or a string. */
export function bytesOf(n: BinaryNode | undefined): Buffer | undefined {
  const content = n?.content;
  if (content === undefined) return undefined;
  if (typeof content === 'string') return Buffer.from(content, 'utf8');
  if (content instanceof Uint8Array) return Buffer.from(content);
  return undefined;
}

export const textOf = (n: BinaryNode | undefined): string | undefined => bytesOf(n)?.toString('utf8');

export const childNodes = (n: BinaryNode | undefined): BinaryNode[] => (Array.isArray(n?.content) ? n.content : []);

export const uintBE = (value: number, length: number): Buffer => {
  const out = Buffer.alloc(length);
  out.writeUIntBE(value, 0, length);
  return out;
};

export const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Short description of a stanza for logs: tag, type, xmlns and its first child. */
export function describe(n: BinaryNode): string {
  const first = childNodes(n)[0];
  const parts = [n.tag, n.attrs.type, n.attrs.xmlns, first?.tag].filter(Boolean);
  return parts.join(' ');
}
