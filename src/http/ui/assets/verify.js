// Verify: two photos, their similarity, the decision and the threshold in force.

import { call } from './api.js';
import { $, fixed, say, sayError } from './dom.js';

export function init() {
  for (const side of ['a', 'b']) {
    $(`#ver-${side}`).addEventListener('change', (e) => {
      const img = $(`#ver-${side}-img`);
      const file = e.target.files[0];
      if (img.src) URL.revokeObjectURL(img.src);
      img.hidden = !file;
      if (file) img.src = URL.createObjectURL(file);
      $('#ver-result').hidden = true;
    });
  }
  $('#ver-form').addEventListener('submit', compare);
}

export function show() {}

async function compare(e) {
  e.preventDefault();
  const form = new FormData();
  form.append('image_a', $('#ver-a').files[0]);
  form.append('image_b', $('#ver-b').files[0]);
  say('Comparing…');
  $('#ver-result').hidden = true;
  try {
    const r = await call('POST', '/v1/verify', { form });
    $('#ver-decision').textContent = r.same ? 'Same person' : 'Different people';
    $('#ver-decision').dataset.same = String(r.same);
    $('#ver-similarity').textContent = fixed(r.similarity);
    $('#ver-threshold').textContent = fixed(r.threshold);
    $('#ver-result').hidden = false;
    say('Done.');
  } catch (err) {
    sayError(err);
  }
}
