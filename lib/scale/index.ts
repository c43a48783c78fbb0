/** Beyond one machine: plan a run on Redis, explain its shards on BullMQ workers, follow it, reduce it. */
export { planRun } from './plan.js';
export type { PlanOptions, PlanResult } from './plan.js';
export { startWorker } from './worker.js';
export type { StartWorkerOptions, WorkerHandle, WorkerEvent, WorkerEventType } from './worker.js';
export { runStatus } from './status.js';
export type { RunStatus, FailedShard } from './status.js';
export { reduceRun, aggregateToJson } from './reduce.js';
export type { ReduceOptions, RunAggregate, CheckpointAggregate } from './reduce.js';
export { parseDataSource, countRows, readRows } from './data.js';
export type { DataSource, DataRows } from './data.js';
export type { RedisConnection, RunExplainOptions, RunManifest, RunModel, ShardJob } from './run.js';
