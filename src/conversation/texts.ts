/** Fixed replies of the conversation layer (no model involved), per language. */
import type { Language } from '../rag/index.js';

export interface Texts {
  help: string;
  reset: string;
  forget: string;
  mediaUnsupported: string;
  voiceFailed: string;
  tooLong: (max: number) => string;
  empty: string;
  rateLimited: string;
}

export function texts(language: Language, org: { name: string; humanLine: string }): Texts {
  if (language === 'es') {
    return {
      help:
        `Soy el asistente de ${org.name}. Respondo preguntas con la información de la clínica y le indico la fuente.\n\n` +
        `Comandos:\n- /help: esta ayuda\n- /reset: empezar de nuevo\n- /human: hablar con una persona\n- /forget: borrar su historial y mensajes guardados\n\n` +
        `Teléfono: ${org.humanLine}.`,
      reset: 'Hecho: empezamos de nuevo. ¿En qué puedo ayudarle?',
      forget: 'Hecho: he borrado su historial y el texto de sus mensajes guardados.',
      mediaUnsupported: 'Solo puedo leer mensajes de texto y notas de voz. ¿Puede escribir su pregunta?',
      voiceFailed: 'No he podido entender la nota de voz. ¿Puede escribir su pregunta?',
      tooLong: (max) => `Su mensaje es muy largo. ¿Puede hacer una pregunta concreta en menos de ${max} caracteres?`,
      empty: '¿En qué puedo ayudarle? Escriba su pregunta.',
      rateLimited: `Ha enviado muchos mensajes seguidos. Espere un momento, por favor. Si es urgente, llame al ${org.humanLine}.`,
    };
  }
  return {
    help:
      `I'm the assistant for ${org.name}. I answer questions from the clinic's own information and tell you the source.\n\n` +
      `Commands:\n- /help: this help\n- /reset: start over\n- /human: talk to a person\n- /forget: erase your history and stored messages\n\n` +
      `Phone: ${org.humanLine}.`,
    reset: "Done — we're starting over. How can I help?",
    forget: "Done — I've erased your history and the text of your stored messages.",
    mediaUnsupported: 'I can read text and voice messages only. Could you type your question?',
    voiceFailed: "Sorry, I couldn't understand that voice note. Could you type your question?",
    tooLong: (max) => `That message is very long. Could you ask one question in under ${max} characters?`,
    empty: 'How can I help? Please type your question.',
    rateLimited: `You've sent a lot of messages in a short time. Please wait a moment. If it's urgent, call ${org.humanLine}.`,
  };
}
