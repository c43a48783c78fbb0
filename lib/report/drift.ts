/**
 * Path drift across checkpoints (training epochs, fine-tuning steps): consecutive summaries
 * compared with comparePaths, as a Markdown report (a summary table and a per-class, per-layer
 * table of Jaccard overlaps and units that entered or left), JSON, and an SVG line plot of the
 * weighted Jaccard per ReLU layer. `pathwise drift` and examples/path-drift.ts write these.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { comparePaths, pathStatisticsToJSON, type PathComparison, type PathStatistics } from '../explain/dataset.js';
import { escapeXml } from '../render/diagram.js';

/** One checkpoint's summary of the probe set. */
export interface DriftSnapshot {
  /** The checkpoint: an epoch number or a file name. */
  name: string | number;
  /** Fraction of probe items predicted as their label, when known. */
  accuracy?: number;
  loss?: number;
  stats: PathStatistics;
}

/** Two consecutive checkpoints compared. */
export interface DriftRow {
  from: string | number;
  to: string | number;
  comparison: PathComparison;
}

/** Compares each checkpoint with the one before it. */
export function driftRows(snapshots: readonly DriftSnapshot[], options: { threshold?: number } = {}): DriftRow[] {
  const rows: DriftRow[] = [];
  for (let i = 1; i < snapshots.length; i++)
    rows.push({ from: snapshots[i - 1].name, to: snapshots[i].name, comparison: comparePaths(snapshots[i - 1].stats, snapshots[i].stats, options) });
  return rows;
}

/** The summary table (Markdown): one row per pair of consecutive checkpoints, means over classes. */
export function driftTable(snapshots: readonly DriftSnapshot[], rows: readonly DriftRow[], options: { stepLabel?: string } = {}): string {
  const ordinals = rows[0]?.comparison.layers.map((l) => l.ordinal) ?? [];
  const head = [options.stepLabel ?? 'epochs', 'probe acc.', ...ordinals.map((o) => `ReLU ${o}: J / wJ`), ...ordinals.map((o) => `ReLU ${o}: +in / −out`)];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    // Rows from driftRows compare snapshot i with i + 1 (names may repeat).
    const acc = (rows.length === snapshots.length - 1 ? snapshots[rows.indexOf(r) + 1] : snapshots.find((s) => s.name === r.to))?.accuracy;
    const byOrd = new Map(r.comparison.layers.map((l) => [l.ordinal, l]));
    const cell = (o: number, f: (l: PathComparison['layers'][number]) => string) => (byOrd.has(o) ? f(byOrd.get(o)!) : '—');
    lines.push(`| ${r.from} → ${r.to} | ${acc === undefined ? '—' : `${(acc * 100).toFixed(1)}%`} | ` +
      ordinals.map((o) => cell(o, (l) => `${l.jaccard.toFixed(2)} / ${l.weightedJaccard.toFixed(2)}`)).join(' | ') + ' | ' +
      ordinals.map((o) => cell(o, (l) => `${l.entered.toFixed(1)} / ${l.left.toFixed(1)}`)).join(' | ') + ' |');
  }
  return lines.join('\n') + '\n';
}

/** The per-class table (Markdown): per step and class, each layer's Jaccard and units entered / left. */
export function driftClassTable(rows: readonly DriftRow[], options: { stepLabel?: string; classNames?: readonly string[] } = {}): string {
  const ordinals = rows[0]?.comparison.layers.map((l) => l.ordinal) ?? [];
  const head = [options.stepLabel ?? 'epochs', 'class', ...ordinals.map((o) => `ReLU ${o}: J`), ...ordinals.map((o) => `ReLU ${o}: +in / −out`)];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) for (const c of r.comparison.classes) {
    const byOrd = new Map(c.layers.map((l) => [l.ordinal, l]));
    const name = options.classNames?.[c.class];
    lines.push(`| ${r.from} → ${r.to} | ${c.class}${name ? ` (${name})` : ''} | ` +
      ordinals.map((o) => (byOrd.has(o) ? byOrd.get(o)!.jaccard.toFixed(2) : '—')).join(' | ') + ' | ' +
      ordinals.map((o) => (byOrd.has(o) ? `${byOrd.get(o)!.entered.length} / ${byOrd.get(o)!.left.length}` : '—')).join(' | ') + ' |');
  }
  return lines.join('\n') + '\n';
}

/** A line plot (SVG): the weighted Jaccard between consecutive checkpoints, one line per ReLU layer. */
export function driftPlot(rows: readonly DriftRow[], options: { stepLabel?: string; title?: string } = {}): string {
  // Short names (epochs) label the steps directly; long ones (file names) are numbered, with a key.
  const names = rows.length ? [rows[0].from, ...rows.map((r) => r.to)].map(String) : [];
  const numbered = names.some((n) => n.length > 4);
  const labels = rows.map((r, i) => (numbered ? `${i + 1}→${i + 2}` : `${r.from}→${r.to}`));
  const key = numbered ? names.map((n, i) => `${i + 1}: ${n}`) : [];
  const W = Math.max(520, 56 + 130 + rows.length * 60), L = 56, R = 130, T = 28, B = 46, plotH = 300;
  const H = plotH + (key.length ? 10 + key.length * 15 : 0);
  const y = (v: number) => T + (1 - v) * (plotH - T - B);
  const x = (i: number) => L + (rows.length <= 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (rows.length - 1));
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${L}" y="16" font-size="13" font-weight="600">${escapeXml(options.title ?? `Path drift between ${options.stepLabel ?? 'epochs'} (weighted Jaccard)`)}</text>`,
  ];
  for (const v of [0, 0.25, 0.5, 0.75, 1])
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/><text x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(2)}</text>`);
  labels.forEach((label, i) => parts.push(`<text x="${x(i)}" y="${plotH - B + 16}" text-anchor="middle">${escapeXml(label)}</text>`));
  parts.push(`<text x="${(L + W - R) / 2}" y="${plotH - 8}" text-anchor="middle">${escapeXml(options.stepLabel ?? 'epochs')}</text>`);
  key.forEach((line, i) => parts.push(`<text x="${L}" y="${plotH + 14 + i * 15}" class="key">${escapeXml(line)}</text>`));
  const ordinals = rows[0]?.comparison.layers.map((l) => l.ordinal) ?? [];
  const colours = ['#2166ac', '#b2182b', '#1b7837', '#762a83', '#e08214'];
  ordinals.forEach((o, k) => {
    const c = colours[k % colours.length];
    const pts = rows.flatMap((r, i) => {
      const l = r.comparison.layers.find((q) => q.ordinal === o);
      return l ? [`${x(i).toFixed(1)},${y(l.weightedJaccard).toFixed(1)}`] : [];
    });
    parts.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${c}" stroke-width="2"/>`);
    for (const p of pts) { const [px, py] = p.split(','); parts.push(`<circle cx="${px}" cy="${py}" r="3" fill="${c}"/>`); }
    parts.push(`<line x1="${W - R + 14}" x2="${W - R + 34}" y1="${T + 10 + k * 18}" y2="${T + 10 + k * 18}" stroke="${c}" stroke-width="2"/>` +
      `<text x="${W - R + 40}" y="${T + 14 + k * 18}">ReLU ${o}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** The drift as JSON data: checkpoints, and per step the per-layer means and per-class details. */
export function driftJson(snapshots: readonly DriftSnapshot[], rows: readonly DriftRow[], classNames?: readonly string[]) {
  return {
    ...(classNames ? { classes: classNames } : {}),
    threshold: rows[0]?.comparison.threshold,
    checkpoints: snapshots.map((s) => ({ name: s.name, accuracy: s.accuracy, loss: s.loss, count: s.stats.count })),
    drift: rows.map((r) => ({
      from: r.from, to: r.to, layers: r.comparison.layers,
      classes: r.comparison.classes.map((c) => ({
        class: c.class, ...(classNames?.[c.class] ? { name: classNames[c.class] } : {}), countA: c.countA, countB: c.countB,
        layers: c.layers.map((l) => ({ ...l, entered: Array.from(l.entered), left: Array.from(l.left) })),
      })),
    })),
  };
}

export interface DriftReportOptions {
  /** Title of the Markdown report. */
  title?: string;
  /** What a checkpoint is, for headers: 'epochs' (default) or 'checkpoints'. */
  stepLabel?: string;
  classNames?: readonly string[];
  /** Text after the title (settings, the command). */
  preamble?: string;
  /** File name stem (default 'path-drift'): writes <stem>.md, .svg, .json and stats/<checkpoint>.json. */
  stem?: string;
}

/**
 * Writes the drift report into `outDir`: <stem>.md (both tables), <stem>.svg (the plot),
 * <stem>.json (driftJson) and each checkpoint's statistics as stats/<n>.json (pathStatisticsToJSON).
 * Returns the paths written and the Markdown tables.
 */
export function writeDriftReport(outDir: string, snapshots: readonly DriftSnapshot[], rows: readonly DriftRow[], options: DriftReportOptions = {}) {
  const stem = options.stem ?? 'path-drift';
  const table = driftTable(snapshots, rows, options);
  const classTable = driftClassTable(rows, options);
  const svg = driftPlot(rows, { stepLabel: options.stepLabel });
  mkdirSync(join(outDir, 'stats'), { recursive: true });
  const files = [join(outDir, `${stem}.md`), join(outDir, `${stem}.svg`), join(outDir, `${stem}.json`)];
  writeFileSync(files[0], `# ${options.title ?? 'Path drift'}\n\n${options.preamble ? `${options.preamble}\n\n` : ''}${table}\n` +
    'J: Jaccard of the path units (selected in ≥ 50% of a class\'s probe explanations), mean over classes; ' +
    'wJ: frequency-weighted Jaccard; +in / −out: units that entered / left a class\'s path, mean over classes.\n\n' +
    `## Per class\n\n${classTable}`);
  writeFileSync(files[1], svg);
  writeFileSync(files[2], JSON.stringify(driftJson(snapshots, rows, options.classNames), null, 1));
  snapshots.forEach((s, i) => {
    const file = join(outDir, 'stats', `${String(i).padStart(String(snapshots.length - 1).length, '0')}-${String(s.name).replace(/[^\w.-]+/g, '_')}.json`);
    writeFileSync(file, JSON.stringify(pathStatisticsToJSON(s.stats)));
    files.push(file);
  });
  return { files, table, classTable, svg };
}
