/** `pathwise report <model> -i <inputs…> -o <file.html>`: explains inputs into one self-contained HTML report. */
import type { Command } from 'commander';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { UsageError, type CliContext, type CliIO } from './program.js';
import { addInputOptions, explainAll, explainOptions, openInputs, REPORT_LIMIT, reportHtml, type ExplainFlags } from './explaining.js';

async function runReport(modelPath: string, flags: ExplainFlags, io: CliIO): Promise<void> {
  if (!flags.out) throw new UsageError("required option '-o, --out <file.html>' not specified");
  const { model, shape, batch, normalisation, classNames, spec } = await openInputs(modelPath, flags, io);
  let html: string, count: number;
  try {
    const { explanations, baselines } = await explainAll(model, batch, explainOptions(flags, batch.count), io, flags.progress !== false, undefined, flags.baseline);
    html = reportHtml(modelPath, flags, { model, batch, shape, explanations, baselines, normalisation, classNames, spec });
    count = Math.min(REPORT_LIMIT, explanations.length);
  } finally {
    model.dispose();
  }
  let path = resolve(flags.out);
  if (extname(path).toLowerCase() !== '.html') path = join(path, 'report.html');
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, html);
  if (flags.json) io.stdout.write(JSON.stringify({ report: path, bytes: Buffer.byteLength(html), examples: count }) + '\n');
  else io.stdout.write(`wrote ${path}\n`);
}

export function addReportCommand(program: Command, ctx: CliContext): void {
  addInputOptions(program.command('report')
    .description('explain inputs and write one self-contained HTML report')
    .argument('<model>', 'an .onnx file or a tfjs model.json'))
    .requiredOption('-o, --out <file.html>', 'report file (or a folder for report.html)')
    .action(async (model: string, flags: ExplainFlags) => runReport(model, flags, ctx.io));
}
