// Worker-thread entry that loads a TypeScript module through tsx (workers do not inherit tsx's
// --import hooks): new Worker('ts-worker.mjs', { workerData: { entry: fileURL, ... } }).
import { workerData } from 'node:worker_threads';
import { tsImport } from 'tsx/esm/api';

await tsImport(workerData.entry, import.meta.url);
