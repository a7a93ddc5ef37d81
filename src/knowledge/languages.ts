/** Postgres text-search configurations for the languages documents declare (`lang`). */
const textSearchConfigs: Record<string, string> = {
  en: 'english',
  es: 'spanish',
  fr: 'french',
  de: 'german',
  pt: 'portuguese',
  it: 'italian',
  nl: 'dutch',
  sv: 'swedish',
  da: 'danish',
  no: 'norwegian',
  fi: 'finnish',
  ru: 'russian',
  tr: 'turkish',
};

export function textSearchConfig(lang: string): string {
  return textSearchConfigs[lang.toLowerCase().split(/[-_]/)[0] ?? ''] ?? 'simple';
}
