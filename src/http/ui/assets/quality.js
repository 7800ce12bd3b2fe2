// Quality: calibrate the thresholds on the gallery for target error rates, then apply them.

import { call } from './api.js';
import { $, fixed, say, sayError } from './dom.js';

export function init() {
  $('#cal-form').addEventListener('submit', (e) => {
    e.preventDefault();
    calibrate(false);
  });
  $('#cal-apply').addEventListener('click', () => calibrate(true));
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
