/**
 * WhatsApp shows *bold*, _italic_ and plain lists; Markdown headings, **bold** and links do
 * not render. Long replies are split at paragraph, then sentence boundaries, in order.
 */
export const WHATSAPP_MAX_CHARS = 1600;

export function formatForWhatsApp(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    // [ \t] rather than \s: a heading or bullet must not swallow the blank line around it.
    .replace(/^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$/gm, '*$1*')
    .replace(/\*\*(.+?)\*\*/g, '*$1*')
    .replace(/__(.+?)__/g, '_$1_')
    .replace(/\[([^\]]+)\]\(([^)]+)\)/g, '$1 ($2)')
    .replace(/^[ \t]*[*+][ \t]+/gm, '- ')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** Joins consecutive units with `separator` while the result stays within `max`. */
function pack(units: string[], separator: string, max: number): string[] {
  const out: string[] = [];
  let current: string | undefined;
  for (const unit of units) {
    const joined = current === undefined ? unit : `${current}${separator}${unit}`;
    if (joined.length > max && current !== undefined) {
      out.push(current);
      current = unit;
    } else current = joined;
  }
  if (current !== undefined) out.push(current);
  return out;
}

/** A piece over the limit: split between lines (lists), then sentences, then words. */
function splitLong(piece: string, max: number): string[] {
  if (piece.length <= max) return [piece];
  const lines = piece.split('\n');
  if (lines.length > 1) return pack(lines.flatMap((line) => splitLong(line, max)), '\n', max);
  const sentences = piece.split(/(?<=[.!?…])\s+/);
  if (sentences.length > 1) return pack(sentences.flatMap((sentence) => splitLong(sentence, max)), ' ', max);
  // A single sentence over the limit: cut at the last space before it.
  const out: string[] = [];
  let rest = piece;
  while (rest.length > max) {
    const cut = rest.lastIndexOf(' ', max);
    const at = cut > max / 2 ? cut : max;
    out.push(rest.slice(0, at).trimEnd());
    rest = rest.slice(at).trimStart();
  }
  if (rest) out.push(rest);
  return out;
}

/** Splits into messages of at most `max` characters, preferring paragraph then sentence breaks. */
export function splitMessage(text: string, max = WHATSAPP_MAX_CHARS): string[] {
  const pieces = text.split(/\n{2,}/).flatMap((paragraph) => splitLong(paragraph, max));
  return pack(pieces, '\n\n', max).filter((p) => p.trim() !== '');
}
