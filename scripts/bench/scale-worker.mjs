// A worker thread of npm run bench:scale: evaluates one candidate design at a time.
import { parentPort } from 'node:worker_threads';
import { evaluate } from './scale-evaluate.ts';

parentPort.on('message', (job) => {
  try {
    parentPort.postMessage({ id: job.id, result: evaluate(job.input) });
  } catch (err) {
    parentPort.postMessage({ id: job.id, error: err instanceof Error ? err.stack ?? err.message : String(err) });
  }
});
