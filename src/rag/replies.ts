/** Fixed wording for what the user is told when a human takes over, per category and language. */
import { urgentReply } from './red-flags.js';
import type { EscalationCategory, Language } from './types.js';

export interface Organisation {
  name: string;
  humanLine: string;
  humanHours: string;
  emergencyNumber: string;
  /**
   * Whether escalations reach staff on duty (STAFF_NUMBERS or STAFF_WEBHOOK_URL). When false
   * the user is not promised a call back: they are given the line and its hours. Default true.
   */
  staffOnDuty?: boolean;
}

/** What happens next, per category: who will get back to the user. */
const nextSteps: Record<Language, Record<Exclude<EscalationCategory, 'urgent'>, string>> = {
  en: {
    out_of_scope: 'Our staff have your question and will get back to you here.',
    sensitive: 'A member of the care team has your question and will contact you.',
    user_request: 'A member of our team has this conversation and will reply here.',
    failure: 'Our staff have been told and will get back to you here.',
  },
  es: {
    out_of_scope: 'Nuestro equipo tiene su pregunta y le responderá por aquí.',
    sensitive: 'Una persona del equipo clínico tiene su pregunta y se pondrá en contacto con usted.',
    user_request: 'Una persona de nuestro equipo tiene esta conversación y le responderá por aquí.',
    failure: 'Nuestro equipo ya está avisado y le responderá por aquí.',
  },
};

type Handover = Exclude<EscalationCategory, 'urgent'>;

/** Per language: why a human takes over, what happens next, and the emergency line. */
const wording: Record<Language, {
  lead: Record<Handover, string>;
  leadWithoutStaff: string;
  alsoCall: (line: string, hours: string) => string;
  callInstead: (line: string, hours: string) => string;
  emergency: (number: string) => string;
}> = {
  es: {
    lead: {
      out_of_scope: 'No encuentro la respuesta a eso en la información de la clínica, así que prefiero no adivinar.',
      sensitive: 'Esa pregunta debe responderla una persona del equipo clínico, no este asistente.',
      user_request: 'De acuerdo, le paso con una persona del equipo.',
      failure: 'Lo siento, ahora mismo no puedo responder.',
    },
    leadWithoutStaff: 'De acuerdo.',
    alsoCall: (line, hours) => `También puede llamar al ${line} (${hours}).`,
    callInstead: (line, hours) => `Llame al ${line} (${hours}) y le atenderá una persona.`,
    emergency: (number) => `Si es una emergencia, llame al ${number}.`,
  },
  en: {
    lead: {
      out_of_scope: "I can't find the answer to that in the clinic's information, so I won't guess.",
      sensitive: 'That question needs to be answered by a member of the care team, not by this assistant.',
      user_request: "Of course — I'm passing you to a member of our team.",
      failure: "Sorry, I can't answer right now.",
    },
    leadWithoutStaff: 'Of course.',
    alsoCall: (line, hours) => `You can also call ${line} (${hours}).`,
    callInstead: (line, hours) => `Please call ${line} (${hours}) to talk to a person.`,
    emergency: (number) => `In an emergency, call ${number}.`,
  },
};

export function escalationReply(category: EscalationCategory, language: Language, org: Organisation): string {
  const staffOnDuty = org.staffOnDuty ?? true;
  if (category === 'urgent') return urgentReply(language, org.emergencyNumber, org.humanLine, { humanHours: org.humanHours, staffOnDuty });
  const w = wording[language];
  const lead = !staffOnDuty && category === 'user_request' ? w.leadWithoutStaff : w.lead[category];
  const next = staffOnDuty
    ? `${nextSteps[language][category]} ${w.alsoCall(org.humanLine, org.humanHours)}`
    : w.callInstead(org.humanLine, org.humanHours);
  return `${lead} ${next} ${w.emergency(org.emergencyNumber)}`;
}

/** What the user gets when anything fails after retries: never silence. */
export function fallbackReply(language: Language, org: Organisation): string {
  return escalationReply('failure', language, org);
}
