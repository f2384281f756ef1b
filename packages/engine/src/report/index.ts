/** Reports of a verification for people and dashboards: HTML (with the layout as SVG) and SARIF. */
export { renderHtmlReport } from './html.ts';
export type { HtmlReportOptions } from './html.ts';
export { renderSarif } from './sarif.ts';
export type { SarifOptions } from './sarif.ts';
export { layoutDot, layoutSvg, dotToSvg, stepVerdicts, layoutGraphHtml } from './graph.ts';
