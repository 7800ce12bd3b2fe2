// Quality: calibrate the thresholds on the gallery for target error rates, then apply them;
// the evaluation report's charts (POST /v1/eval?format=html), its SVG figures shown here.

import { call } from './api.js';
import { $, fixed, say, sayError } from './dom.js';

export function init() {
  $('#cal-form').addEventListener('submit', (e) => {
    e.preventDefault();
    calibrate(false);
  });
  $('#cal-apply').addEventListener('click', () => calibrate(true));
  $('#q-run').addEventListener('click', evaluate);
}

export function show() {}

function inForce(t) {
  return `verify ${fixed(t.compare)}, identify ${fixed(t.identify)} (${t.source === 'calibrated' ? 'calibrated' : 'from the configuration'})`;
}

async function calibrate(apply) {
  const json = { target_far: Number($('#cal-far').value), target_fpir: Number($('#cal-fpir').value), apply };
  say(apply ? 'Applying…' : 'Calibrating…');
  try {
    const r = await call('POST', '/v1/calibrate', { json });
    const t = r.thresholds;
    $('#cal-compare').textContent = t ? fixed(t.compare) : '–';
    $('#cal-identify').textContent = t ? fixed(t.identify) : '–';
    $('#cal-pairs').textContent = t ? `${t.genuine_pairs ?? '?'} genuine, ${t.impostor_pairs ?? '?'} impostor` : '–';
    $('#cal-in-force').textContent = inForce(r.in_force);
    $('#cal-result').hidden = false;
    $('#cal-apply').hidden = !t || r.applied;
    if (!t) say('The gallery holds too few pairs to measure these rates: enrol more people, or choose larger rates.', 'error');
    else say(r.applied ? 'The calibrated thresholds are in force.' : 'Calibrated; not applied yet.');
  } catch (err) {
    $('#cal-result').hidden = true;
    $('#cal-apply').hidden = true;
    sayError(err);
  }
}

// What the report's figures may hold: SVG drawing elements and their presentation attributes,
// and captions. Anything else (scripts, links, event handlers, styles) is dropped.
const SAFE_TAGS = new Set(['figure', 'figcaption', 'svg', 'g', 'rect', 'line', 'polyline', 'polygon', 'path', 'circle', 'text', 'tspan', 'title']);
const SAFE_ATTRS = /^(viewBox|width|height|x|y|x1|x2|y1|y2|cx|cy|r|d|points|fill|stroke|stroke-width|stroke-dasharray|stroke-linejoin|stroke-opacity|opacity|fill-opacity|font-family|font-size|font-weight|text-anchor|dominant-baseline|transform|class|xmlns)$/;

/** A clean copy of `node` made of the safe tags and attributes only. */
function clean(node) {
  if (node.nodeType === Node.TEXT_NODE) return document.createTextNode(node.textContent);
  if (node.nodeType !== Node.ELEMENT_NODE) return null;
  const tag = node.localName;
  if (!SAFE_TAGS.has(tag)) return null;
  const svg = tag !== 'figure' && tag !== 'figcaption';
  const copy = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const a of node.attributes) {
    if (SAFE_ATTRS.test(a.name) && a.name !== 'xmlns') copy.setAttribute(a.name, a.value);
  }
  for (const c of node.childNodes) {
    const k = clean(c);
    if (k) copy.append(k);
  }
  return copy;
}

async function evaluate() {
  say('Evaluating the gallery…');
  $('#q-run').disabled = true;
  try {
    const html = await (await call('POST', '/v1/eval?format=html', { json: {} })).text();
    // The report's own styles are not wanted here (and the page's CSP refuses inline styles).
    const unstyled = html.replace(/<style[\s\S]*?<\/style>/gi, '').replace(/\sstyle=("[^"]*"|'[^']*'|[^\s>]*)/gi, '');
    const doc = new DOMParser().parseFromString(unstyled, 'text/html');
    const figures = [...doc.querySelectorAll('.charts > figure')].map(clean).filter(Boolean);
    const grid = document.createElement('div');
    grid.className = 'charts';
    grid.append(...figures);
    $('#q-charts').replaceChildren(grid);
    say(`The evaluation's ${figures.length} charts.`);
  } catch (err) {
    $('#q-charts').replaceChildren();
    sayError(err);
  } finally {
    $('#q-run').disabled = false;
  }
}
