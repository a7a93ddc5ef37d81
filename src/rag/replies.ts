/** Fixed wording for what the user is told when a human takes over, per category and language. */
import { urgentReply } from './red-flags.js';
import type { EscalationCategory, Language } from './types.js';

export interface Organisation {
  name: string;
  humanLine: string;
  humanHours: string;
  emergencyNumber: string;
}

export function escalationReply(category: EscalationCategory, language: Language, org: Organisation): string {
  if (category === 'urgent') return urgentReply(language, org.emergencyNumber, org.humanLine);
  if (language === 'es') {
    const lead: Record<Exclude<EscalationCategory, 'urgent'>, string> = {
      out_of_scope: 'No encuentro la respuesta a eso en la información de la clínica, así que prefiero no adivinar.',
      sensitive: 'Esa pregunta debe responderla una persona del equipo clínico, no este asistente.',
      user_request: 'De acuerdo, le paso con una persona del equipo.',
      failure: 'Lo siento, ahora mismo no puedo responder.',
    };
    return `${lead[category]} Nuestro equipo ya tiene esta conversación y le contactará. También puede llamar al ${org.humanLine} (${org.humanHours}). Si es una emergencia, llame al ${org.emergencyNumber}.`;
  }
  const lead: Record<Exclude<EscalationCategory, 'urgent'>, string> = {
    out_of_scope: "I can't find the answer to that in the clinic's information, so I won't guess.",
    sensitive: 'That question needs to be answered by a member of the care team, not by this assistant.',
    user_request: "Of course — I'm passing you to a member of our team.",
    failure: "Sorry, I can't answer right now.",
  };
  return `${lead[category]} Our staff have this conversation and will contact you. You can also call ${org.humanLine} (${org.humanHours}). In an emergency, call ${org.emergencyNumber}.`;
}

/** What the user gets when anything fails after retries: never silence. */
export function fallbackReply(language: Language, org: Organisation): string {
  return escalationReply('failure', language, org);
}
