/**
 * reduceRun: the aggregates of a finished run. For every checkpoint it reads the committed shard
 * files in row order (each checked against its committed sha256) and feeds their rows to the same
 * PathStatisticsBuilder that pathStatistics uses, so the statistics equal, value for value, those
 * of explainDataset + pathStatistics over the same rows in one process (the float sums run in the
 * same order). comparePaths then compares consecutive checkpoints. The integer counts the commits
 * added up in Redis are checked against what the files hold.
 */
import { readFile } from 'node:fs/promises';
import { PathStatisticsBuilder, comparePaths, type PathComparison, type PathStatistics } from '../explain/dataset.js';
import type { Explanation } from '../explain/types.js';
import { readExplanationsParquet } from '../io/parquet.js';
import { checkRunId, connect, readManifest, runKey, sha256, shardFile, shardName, type RedisConnection } from './run.js';

export interface CheckpointAggregate {
  checkpoint: number;
  model: string;
  sha256: string;
  count: number;
  /** pathStatistics by the explained class. */
  statistics: PathStatistics;
  /** pathStatistics by the rows' labels (when the data source has labels). */
  byLabel?: PathStatistics;
}

export interface RunAggregate {
  run: string;
  checkpoints: CheckpointAggregate[];
  /** comparePaths(checkpoint i, checkpoint i + 1), by the explained class. */
  comparisons: { from: number; to: number; comparison: PathComparison }[];
}

export interface ReduceOptions {
  run: string;
  redis: RedisConnection;
  /** comparePaths' threshold (default 0.5). */
  threshold?: number;
}

export async function reduceRun(options: ReduceOptions): Promise<RunAggregate> {
  const run = checkRunId(options.run);
  const connection = await connect(options.redis);
  try {
    const manifest = await readManifest(connection, run);
    const counts = await connection.hgetall(runKey(run, 'counts'));
    const checkpoints: CheckpointAggregate[] = [];
    for (const [checkpoint, model] of manifest.models.entries()) {
      const names = Array.from({ length: manifest.shards }, (_, s) => shardName(checkpoint, s));
      const committed = await connection.mget(names.map((n) => runKey(run, `committed:${n}`)));
      const missing = names.filter((_, s) => committed[s] === null);
      if (missing.length > 0)
        throw new RangeError(`run ${run} is not finished: ${missing.length} shard(s) of checkpoint ${checkpoint} are not committed (first: ${missing[0]}; see pathwise status)`);
      const byTarget = new PathStatisticsBuilder({ by: 'target' });
      let byLabel: PathStatisticsBuilder | undefined = new PathStatisticsBuilder({ by: 'label' });
      const classCounts = new Map<number, number>();
      for (let s = 0; s < manifest.shards; s++) {
        const file = shardFile(manifest.out, run, checkpoint, s);
        const bytes = await readFile(file);
        const digest = sha256(bytes);
        if (digest !== committed[s]) throw new Error(`${file} has sha256 ${digest}, the commit recorded ${committed[s]} (the file was replaced after its commit)`);
        const shard = await readExplanationsParquet(bytes);
        const classes = Number(shard.metadata['pathwise.classes']);
        // A row keeps no logits; a zero array with one value per class gives the statistics the same
        // architecture ({ inputSize, numClasses }) as pathStatistics on the explanations themselves.
        const logits = Number.isInteger(classes) && classes > 0 ? new Float32Array(classes) : undefined;
        for (const row of shard.rows) {
          // PathStatisticsBuilder reads only the fields a row keeps (ExplanationRecord), and the logits' length.
          const result = { index: row.index, label: row.label, explanation: { ...row.explanation, logits } as Explanation };
          byTarget.add(result);
          if (row.label === undefined) byLabel = undefined;
          byLabel?.add(result);
          classCounts.set(row.explanation.target, (classCounts.get(row.explanation.target) ?? 0) + 1);
        }
      }
      const statistics = byTarget.finish();
      const expected = Number(counts[`c${checkpoint}:rows`] ?? 0);
      const classMismatch = [...classCounts].find(([c, n]) => Number(counts[`c${checkpoint}:class:${c}`] ?? 0) !== n);
      if (statistics.count !== expected || classMismatch)
        throw new Error(`checkpoint ${checkpoint}: the shard files hold ${statistics.count} rows, the commits counted ${expected}${classMismatch ? ` (class ${classMismatch[0]} differs)` : ''}`);
      checkpoints.push({ checkpoint, model: model.path, sha256: model.sha256, count: statistics.count, statistics, ...(byLabel ? { byLabel: byLabel.finish() } : {}) });
    }
    const comparisons = checkpoints.slice(1).map((c, i) => ({
      from: i, to: i + 1, comparison: comparePaths(checkpoints[i].statistics, c.statistics, { threshold: options.threshold }),
    }));
    return { run, checkpoints, comparisons };
  } finally {
    connection.disconnect();
  }
}

/** The aggregate as JSON text (typed arrays become arrays). */
export function aggregateToJson(aggregate: RunAggregate): string {
  return JSON.stringify(aggregate, (_key, value: unknown) => (ArrayBuffer.isView(value) ? Array.from(value as unknown as ArrayLike<number>) : value), 2);
}
