export { buildReport, parseSince, normaliseQuestion, type ProductionReport, type ReportOptions, type DailyFigures } from './build.js';
export { formatReport } from './format.js';
export { renderHtml } from './html.js';
