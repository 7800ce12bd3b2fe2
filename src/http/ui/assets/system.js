// System: models, gallery size, index kind, thresholds in force; links to the API docs.

import { get, readiness } from './api.js';
import { $, el, fixed, sayError } from './dom.js';

export function init() {}

export async function show() {
  try {
    const [ready, subjects, t] = await Promise.all([readiness(true), get('/v1/subjects?limit=1'), get('/v1/calibrate')]);
    const facts = [
      ['Detector', ready.detector],
      ['Embedder', ready.embedder],
      ['Subjects', subjects.total],
      ['Faces', ready.gallery_faces],
      ['Vector index', ready.index],
      ['Aligned crops kept', ready.keep_crops ? 'yes' : 'no'],
      ['Verify threshold (cosine)', fixed(t.compare)],
      ['Identify threshold (cosine)', fixed(t.identify)],
      ['Thresholds from', t.source === 'calibrated'
        ? `calibration (target FAR ${t.target_far}, FPIR ${t.target_fpir})` : 'the configuration'],
    ];
    if (t.fpir_estimate && t.fpir_estimate.fpir !== null) {
      facts.push(['Estimated false identifications of unknowns', `${(100 * t.fpir_estimate.fpir).toFixed(2)} %`]);
    }
    $('#sys-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: String(v) })]));
  } catch (e) {
    sayError(e);
  }
}
