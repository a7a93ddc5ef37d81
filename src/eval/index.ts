export { loadEvalSet, parseEvalSet, checkSetAgainstFolder, EvalSetInvalidError, type EvalCase, type FolderProblem, type EvalSetProblem } from './set.js';
export { runEval, type EvalDeps, type EvalRunOptions, type EvalReport, type EvalCaseResult, type EvalMode } from './run.js';
export { computeMetrics, scoreCase, normaliseForMatch, percentile, hitAt, GATEABLE_METRICS, type CaseOutcome, type CaseScore, type EvalCounts, type MetricValues } from './metrics.js';
export { parseThresholds, parseKOption, checkThresholds, failUnderFromTokens, allowedMetricNames, UsageError, type Threshold, type ThresholdResult } from './thresholds.js';
export { formatEvalReport, formatFailures, formatSummary, describeMode } from './format.js';
export { ingestWithEvalGate, evalKnowledgeBase, formatGate, type GateResult, type GateOptions, type GateDeps } from './gate.js';
export { evalCommand, gateCommand, type EvalCommandOptions, type EvalCommandResult, type GateCommandOptions } from './command.js';
