/**
 * npm run bench -- [--quick] [--json] [--only ack,pipeline,ingestion,retrieval] [--in-process]
 *                  [--embed-ms 60] [--claude-ms 900] [--twilio-ms 150]
 *
 * Speed and scale, each figure beside a floor or a peer measured in the same run. Prints a
 * table (or, with --json, the results as JSON) and writes bench/results/latest.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runBench, SCENARIOS, type ScenarioName } from './lib/bench.js';
import { FULL, QUICK } from './lib/profiles.js';
import { DEFAULT_LATENCIES } from './lib/upstreams.js';
import { formatReport } from './lib/report.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    only: { type: 'string' },
    'in-process': { type: 'boolean', default: false },
    'redis-url': { type: 'string' },
    'embed-ms': { type: 'string', default: String(DEFAULT_LATENCIES.embedMs) },
    'claude-ms': { type: 'string', default: String(DEFAULT_LATENCIES.claudeMs) },
    'twilio-ms': { type: 'string', default: String(DEFAULT_LATENCIES.twilioMs) },
  },
});

/** The fakes' latency flags: whole milliseconds, 0 or more. */
const latency = (flag: 'embed-ms' | 'claude-ms' | 'twilio-ms') => {
  const value = Number(values[flag]);
  if (!Number.isInteger(value) || value < 0) {
    process.stderr.write(`--${flag} must be a whole number of milliseconds (got ${JSON.stringify(values[flag])})\n`);
    process.exit(2);
  }
  return value;
};
const latencies = { embedMs: latency('embed-ms'), claudeMs: latency('claude-ms'), twilioMs: latency('twilio-ms') };

const only = values.only?.split(',').map((s) => s.trim()) as ScenarioName[] | undefined;
const unknown = only?.filter((s) => !SCENARIOS.includes(s));
if (unknown?.length) {
  process.stderr.write(`unknown scenario(s): ${unknown.join(', ')} (choose from ${SCENARIOS.join(', ')})\n`);
  process.exit(2);
}

const command = ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' ');
const results = await runBench({
  profile: values.quick ? QUICK : FULL,
  command,
  isolate: !values['in-process'],
  only,
  latencies,
  redisUrl: values['redis-url'],
  log: (line) => process.stderr.write(`${line}\n`),
});

const file = fileURLToPath(new URL('./results/latest.json', import.meta.url));
await mkdir(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
process.stdout.write(values.json ? `${JSON.stringify(results, null, 2)}\n` : formatReport(results));
if (!values.json) process.stdout.write(`\nwritten: bench/results/latest.json\n`);
