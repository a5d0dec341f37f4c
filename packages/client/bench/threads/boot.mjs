// A worker thread's entry under tsx: registers the TypeScript loader in this thread, then
// imports the module named by `workerData.entry` (worker threads do not inherit tsx's hooks).
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
