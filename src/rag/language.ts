import type { Language } from './types.js';

const spanishMarkers = new Set([
  'que', 'qué', 'de', 'la', 'el', 'los', 'las', 'puedo', 'cuándo', 'cuando', 'cómo', 'como', 'dónde', 'donde', 'por', 'para',
  'antes', 'después', 'despues', 'cirugía', 'cirugia', 'es', 'un', 'una', 'mi', 'hola', 'gracias', 'tengo', 'hay', 'con',
  'del', 'al', 'se', 'lo', 'está', 'esta', 'beber', 'comer', 'agua', 'café', 'puede', 'necesito', 'quiero', 'herida', 'y',
]);
const englishMarkers = new Set([
  'the', 'what', 'when', 'can', 'i', 'my', 'is', 'do', 'how', 'where', 'before', 'after', 'surgery', 'and', 'to', 'of', 'a',
  'should', 'have', 'you', 'it', 'does', 'drink', 'eat', 'water', 'coffee', 'wound', 'are', 'will', 'need', 'with', 'for',
]);

/** A small, deterministic guess between the languages we support; English when unsure. */
export function detectLanguage(text: string): Language {
  if (/[¿¡ñ]/i.test(text)) return 'es';
  const words = text.toLowerCase().match(/\p{L}+/gu) ?? [];
  let es = 0;
  let en = 0;
  for (const word of words) {
    if (spanishMarkers.has(word)) es += 1;
    if (englishMarkers.has(word)) en += 1;
  }
  if (/[áéíóú]/i.test(text)) es += 1;
  return es > en ? 'es' : 'en';
}
