/**
 * WhatsApp shows *bold*, _italic_ and plain lists; Markdown headings, **bold** and links do
 * not render. Long replies are split at paragraph, then sentence boundaries, in order.
 */
export const WHATSAPP_MAX_CHARS = 1600;

export function formatForWhatsApp(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/^#{1,6}\s+(.+?)\s*#*$/gm, '*$1*')
    .replace(/\*\*(.+?)\*\*/g, '*$1*')
    .replace(/__(.+?)__/g, '_$1_')
    .replace(/\[([^\]]+)\]\(([^)]+)\)/g, '$1 ($2)')
    .replace(/^\s*[*+]\s+/gm, '- ')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

function splitLong(piece: string, max: number): string[] {
  if (piece.length <= max) return [piece];
  const sentences = piece.split(/(?<=[.!?…])\s+/);
  const out: string[] = [];
  let current = '';
  for (const sentence of sentences) {
    if (sentence.length > max) {
      if (current) out.push(current);
      current = '';
      // A single sentence over the limit: cut at the last space before it.
      let rest = sentence;
      while (rest.length > max) {
        const cut = rest.lastIndexOf(' ', max);
        const at = cut > max / 2 ? cut : max;
        out.push(rest.slice(0, at).trimEnd());
        rest = rest.slice(at).trimStart();
      }
      current = rest;
      continue;
    }
    const joined = current ? `${current} ${sentence}` : sentence;
    if (joined.length > max) {
      out.push(current);
      current = sentence;
    } else current = joined;
  }
  if (current) out.push(current);
  return out;
}

/** Splits into messages of at most `max` characters, preferring paragraph then sentence breaks. */
export function splitMessage(text: string, max = WHATSAPP_MAX_CHARS): string[] {
  const parts: string[] = [];
  let current = '';
  for (const paragraph of text.split(/\n{2,}/)) {
    for (const piece of splitLong(paragraph, max)) {
      const joined = current ? `${current}\n\n${piece}` : piece;
      if (joined.length > max) {
        if (current) parts.push(current);
        current = piece;
      } else current = joined;
    }
  }
  if (current) parts.push(current);
  return parts.filter((p) => p.trim() !== '');
}
