// System: models, the chosen collection's size, index kind and thresholds in force, every
// collection the key sees; links to the API docs.

import { get, getCollection, readiness } from './api.js';
import { $, el, fixed, sayError } from './dom.js';

export function init() {}

export async function show() {
  try {
    const [ready, list, t] = await Promise.all([readiness(true), get('/v1/collections'), get('/v1/calibrate')]);
    const collections = list.collections;
    const chosen = collections.find((c) => c.id === getCollection()) || collections[0];
    const facts = [
      ['Detector', ready.detector],
      ['Embedder', chosen.model],
      ['Collection', chosen.id],
      ['Subjects', chosen.subjects],
      ['Faces', chosen.faces],
      ['Vector index', chosen.index],
      ['Aligned crops kept', ready.keep_crops ? 'yes' : 'no'],
      ['Verify threshold (cosine)', fixed(t.compare)],
      ['Identify threshold (cosine)', fixed(t.identify)],
      ['Thresholds from', t.source === 'calibrated'
        ? `calibration (target FAR ${t.target_far}, FPIR ${t.target_fpir})` : 'the configuration'],
    ];
    if (t.fpir_estimate && t.fpir_estimate.fpir !== null) {
      facts.push(['Estimated false identifications of unknowns', `${(100 * t.fpir_estimate.fpir).toFixed(2)} %`]);
    }
    $('#sys-collections').replaceChildren(...collections.map((c) => el('tr', {},
      el('td', { text: c.id }), el('td', { text: c.name }), el('td', { text: c.model }), el('td', { text: c.index }),
      el('td', { text: String(c.subjects) }), el('td', { text: String(c.faces) }))));
    $('#sys-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: String(v) })]));
  } catch (e) {
    sayError(e);
  }
}
