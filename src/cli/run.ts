/** Runs a CLI's main function: clear message and exit code 1 on failure, no stack for known errors. */
import { isAppError } from '../errors/index.js';

export function runCli(main: () => Promise<number | void>): void {
  main().then(
    (code) => {
      process.exitCode = code ?? 0;
    },
    (error: unknown) => {
      if (isAppError(error)) {
        process.stderr.write(`error ${error.id}: ${error.message}\n`);
      } else {
        process.stderr.write(`unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      }
      process.exitCode = 1;
    },
  );
}
