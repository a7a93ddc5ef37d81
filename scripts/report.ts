/** npm run report -- [--since 7d] [--json] [--html FILE] */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runCli } from '../src/cli/run.js';
import { openCore } from '../src/composition.js';
import { loadConfig } from '../src/config/index.js';
import { silentLogger } from '../src/logging/index.js';
import { buildReport, formatReport, parseSince, renderHtml } from '../src/report/index.js';

const usage = 'usage: npm run report -- [--since 7d] [--json] [--html FILE]\n  --since  24h, 7d, 2w or a date (YYYY-MM-DD); default 7d\n';

runCli(async () => {
  let values;
  let since: Date;
  try {
    ({ values } = parseArgs({ options: { since: { type: 'string', default: '7d' }, json: { type: 'boolean', default: false }, html: { type: 'string' } } }));
    since = parseSince(values.since);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  const config = loadConfig();
  const core = await openCore(config, { role: 'cli', command: 'npm run report', logger: silentLogger });
  try {
    const report = await buildReport(core.db, { since });
    if (values.html) {
      const file = path.resolve(values.html);
      await writeFile(file, renderHtml(report, { title: `${config.organisation.name} — assistant report` }), 'utf8');
      if (!values.json) process.stderr.write(`HTML report written to ${file}\n`);
    }
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return 0;
  } finally {
    await core.db.close();
  }
});
