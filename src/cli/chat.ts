/**
 * A terminal conversation through the same `respondToTurn` a WhatsApp message takes:
 * history across turns, commands (/help, /reset, /human, /forget), escalations.
 */
import { randomUUID } from 'node:crypto';
import readline from 'node:readline';
import { formatForWhatsApp } from '../channels/twilio/format.js';
import { respondToTurn, type ConversationDeps } from '../conversation/index.js';
import { hashSender } from '../logging/index.js';

export async function runChat(deps: ConversationDeps, io: { input: NodeJS.ReadableStream; output: NodeJS.WritableStream; banner: string }): Promise<void> {
  const sender = 'terminal:local';
  const senderHash = hashSender(sender);
  const rl = readline.createInterface({ input: io.input, output: io.output, terminal: Boolean((io.output as NodeJS.WriteStream).isTTY) });
  io.output.write(`${io.banner}\n`);
  const prompt = () => io.output.write('\nyou> ');
  prompt();
  for await (const line of rl) {
    const text = line.trim();
    if (text === '') {
      prompt();
      continue;
    }
    if (text === '/quit' || text === '/exit') break;
    const reply = await respondToTurn(deps, { turnSid: `CLI${randomUUID().replace(/-/g, '')}`, sender, senderHash, text, media: [] });
    const label = reply.kind === 'answer' ? '' : ` [${reply.kind}${reply.result?.escalation ? `: ${reply.result.escalation.category}` : ''}]`;
    io.output.write(`\nbot${label}> ${formatForWhatsApp(reply.text)}\n`);
    prompt();
  }
  rl.close();
}
