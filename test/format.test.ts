import { describe, expect, it } from 'vitest';
import { WHATSAPP_MAX_CHARS, formatForWhatsApp, splitMessage } from '../src/channels/twilio/format.js';

const sentence = (i: number) => `Sentence number ${i} explains one more detail about fasting before your surgery.`;

describe('formatting replies for WhatsApp', () => {
  it('when the answer has Markdown bold, headings, bullets and links, then WhatsApp markup is used instead', () => {
    const text = '## Before you come\n\n**Do not** eat after midnight.\n\n* water is fine\n+ black coffee is fine\n\nSee [the leaflet](https://example.org/fasting).';
    expect(formatForWhatsApp(text)).toBe(
      '*Before you come*\n\n*Do not* eat after midnight.\n\n- water is fine\n- black coffee is fine\n\nSee the leaflet (https://example.org/fasting).',
    );
  });

  it('when the answer has Windows line ends and long blank runs, then they are normalised', () => {
    expect(formatForWhatsApp('One.\r\n\r\n\r\n\r\nTwo.\r\n')).toBe('One.\n\nTwo.');
  });
});

describe('splitting long replies', () => {
  it('when a reply fits in one message, then it is sent as it is', () => {
    expect(splitMessage('Short answer.\n\nSource: fasting.md')).toEqual(['Short answer.\n\nSource: fasting.md']);
  });

  it('when a 4000-character reply has paragraphs, then the parts are in order, each at most 1600 characters, and split between paragraphs', () => {
    const paragraphs = Array.from({ length: 12 }, (_, p) => Array.from({ length: 5 }, (_, s) => sentence(p * 5 + s)).join(' '));
    const text = paragraphs.join('\n\n');
    expect(text.length).toBeGreaterThan(4000);

    const parts = splitMessage(text);

    expect(parts.length).toBeGreaterThanOrEqual(3);
    for (const part of parts) expect(part.length).toBeLessThanOrEqual(WHATSAPP_MAX_CHARS);
    // Nothing lost, nothing reordered: the parts joined at paragraph breaks are the text.
    expect(parts.join('\n\n')).toBe(text);
    // Paragraph boundaries were respected: no part starts or ends mid-paragraph.
    for (const part of parts) for (const paragraph of part.split('\n\n')) expect(paragraphs).toContain(paragraph);
  });

  it('when one paragraph is longer than the limit, then it is split between sentences, in order', () => {
    const sentences = Array.from({ length: 60 }, (_, i) => sentence(i));
    const text = sentences.join(' ');
    expect(text.length).toBeGreaterThan(4000);

    const parts = splitMessage(text);

    for (const part of parts) {
      expect(part.length).toBeLessThanOrEqual(WHATSAPP_MAX_CHARS);
      expect(part).toMatch(/^Sentence number \d+ .*\.$/s);
    }
    expect(parts.join(' ')).toBe(text);
  });

  it('when a single sentence is longer than the limit, then it is cut between words and nothing is lost', () => {
    const words = Array.from({ length: 700 }, (_, i) => `word${i}`);
    const text = words.join(' ');

    const parts = splitMessage(text);

    expect(parts.length).toBeGreaterThan(1);
    for (const part of parts) expect(part.length).toBeLessThanOrEqual(WHATSAPP_MAX_CHARS);
    expect(parts.join(' ').split(' ')).toEqual(words);
  });

  it('when a word is longer than the limit, then it is cut hard at the limit', () => {
    const text = 'x'.repeat(3500);
    const parts = splitMessage(text);
    expect(parts.map((p) => p.length)).toEqual([1600, 1600, 300]);
    expect(parts.join('')).toBe(text);
  });
});

describe('splitting long lists', () => {
  it('when one paragraph is a list longer than the limit, then it is split between items and every line break is kept', () => {
    const items = Array.from({ length: 60 }, (_, i) => `- Item ${i}: bring your medication list and your appointment letter`);
    const text = `What to bring:\n${items.join('\n')}`;
    expect(text.length).toBeGreaterThan(3200);

    const parts = splitMessage(text);

    expect(parts.length).toBeGreaterThan(2);
    for (const part of parts) {
      expect(part.length).toBeLessThanOrEqual(WHATSAPP_MAX_CHARS);
      for (const line of part.split('\n')) expect([`What to bring:`, ...items]).toContain(line);
    }
    expect(parts.join('\n')).toBe(text);
  });
});
