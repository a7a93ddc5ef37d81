/**
 * Urgent symptoms caught by code before any model call. Patterns are deliberately broad:
 * a false alarm costs a phone call, a miss can cost much more.
 */
import type { Language } from './types.js';

interface RedFlag {
  id: string;
  patterns: RegExp[];
}

const redFlags: RedFlag[] = [
  {
    id: 'chest_pain',
    patterns: [/\bchest (pain|tightness|pressure)\b/i, /\b(pain|tightness|pressure) in (my|the) chest\b/i, /\bdolor (en el|de) pecho\b/i, /\bdolor tor[aá]cico\b/i, /\bopresi[oó]n en el pecho\b/i],
  },
  {
    id: 'breathing',
    patterns: [
      /\b(can'?t|cannot|can not|unable to|hard to|struggling to|trouble) breath(e|ing)?\b/i,
      /\bshort(ness)? of breath\b/i,
      /\bno puedo respirar\b/i,
      /\b(me cuesta|dificultad para) respirar\b/i,
      /\bme ahogo\b/i,
    ],
  },
  {
    id: 'bleeding',
    patterns: [
      /\b(heavy|heavily|a lot of|lots of|won'?t stop|uncontrolled|severe|soaking)\b[^.?!]{0,30}\bbleed(ing|s)?\b/i,
      /\bbleed(ing|s)?\b[^.?!]{0,30}\b(heavy|heavily|won'?t stop|will not stop|doesn'?t stop|through the (dressing|bandage))\b/i,
      /\bsangr(a|ado|ando)\b[^.?!]{0,30}\b(mucho|abundante|no para|no se detiene|sin parar)\b/i,
      /\b(mucha|mucho) sangre\b/i,
      /\bhemorragia\b/i,
    ],
  },
  {
    id: 'infection_fever',
    patterns: [
      /\bfever\b[^.?!]{0,60}\b(red|redness|swollen|pus|wound|incision|hot)\b/i,
      /\b(red|redness|swollen|pus|wound|incision)\b[^.?!]{0,60}\bfever\b/i,
      /\bfiebre\b[^.?!]{0,60}\b(roja|rojez|enrojecid[ao]|hinchad[ao]|pus|herida)\b/i,
      /\b(roja|rojez|enrojecid[ao]|hinchad[ao]|pus|herida)\b[^.?!]{0,60}\bfiebre\b/i,
    ],
  },
  {
    id: 'self_harm',
    patterns: [
      /\b(suicid(e|al)|kill myself|end my life|want to die|self[- ]harm|hurt myself)\b/i,
      /\b(suicid(io|arme)|quitarme la vida|matarme|quiero morir|hacerme da[ñn]o)\b/i,
    ],
  },
  {
    id: 'stroke_collapse',
    patterns: [
      /\b(faint(ed|ing)?|passed out|unconscious|collapsed?|seizure|face (is )?drooping|slurred speech)\b/i,
      /\b(me desmay[eé]|desmayo|inconsciente|convulsi[oó]n|perd[ií] el conocimiento)\b/i,
    ],
  },
  {
    id: 'allergic_reaction',
    patterns: [/\b(throat|tongue|lips?) (is |are )?(swelling|swollen|closing)\b/i, /\banaphyla/i, /\bse me (hincha|cierra) la garganta\b/i],
  },
  {
    id: 'calf_clot',
    patterns: [/\b(calf|leg)\b[^.?!]{0,40}\b(swollen|swelling|hot|painful)\b[^.?!]{0,40}\b(short of breath|breath)/i],
  },
];

export function detectRedFlag(text: string): string | undefined {
  for (const flag of redFlags) if (flag.patterns.some((p) => p.test(text))) return flag.id;
  return undefined;
}

export function urgentReply(language: Language, emergencyNumber: string, humanLine: string, options: { humanHours?: string; staffOnDuty?: boolean } = {}): string {
  const staffOnDuty = options.staffOnDuty ?? true;
  if (language === 'es') {
    const hours = options.humanHours ? ` (${options.humanHours})` : '';
    return (
      `Lo que describe puede ser urgente. *Llame ahora al ${emergencyNumber}* o acuda al servicio de urgencias más cercano. ` +
      `No espere una respuesta por este chat. Si no es una emergencia, llame a la clínica al ${humanLine}${hours}.` +
      (staffOnDuty ? ' Nuestro equipo ya tiene esta conversación y se pondrá en contacto con usted.' : '')
    );
  }
  const hours = options.humanHours ? ` (${options.humanHours})` : '';
  return (
    `What you describe may be urgent. *Call ${emergencyNumber} now* or go to the nearest emergency department. ` +
    `Please don't wait for a reply in this chat. If it is not an emergency, call the clinic on ${humanLine}${hours}.` +
    (staffOnDuty ? ' Our staff have been given this conversation and will contact you.' : '')
  );
}
