// Entry point of the appliance, from source and inside the single executable.
import { main } from './cli/index.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`agentmeter: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
