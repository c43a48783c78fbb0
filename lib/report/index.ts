/** The self-contained HTML report. */
export { renderReport } from './html.js';
export type { ReportOptions, ReportExample, ReportModelInfo } from './html.js';
