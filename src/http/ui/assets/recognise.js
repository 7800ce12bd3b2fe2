// Recognise: a photo, every face boxed and labelled (name and score, or "unknown"); a face's
// top-k candidates; enrol a face as an existing or a new subject.

import { call, cropUrl, refreshNames, subjectNamed } from './api.js';
import { $, el, fixed, latest, say, sayError } from './dom.js';

let photo = null; // the File being recognised
let answer = null; // the last /v1/identify answer
let selected = null; // index of the face shown in the panel
const identifying = latest();

export function init() {
  for (const id of ['#rec-file', '#rec-camera']) {
    $(id).addEventListener('change', (e) => e.target.files[0] && load(e.target.files[0]));
  }
  const drop = $('#rec-drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const file = e.dataTransfer.files[0];
    if (file) load(file);
  });
  $('#rec-enrol').addEventListener('submit', enrol);
}

export function show() {
  refreshNames().catch(() => {});
}

async function load(file) {
  photo = file;
  answer = null;
  selected = null;
  $('#rec-detail').hidden = true;
  $('#rec-boxes').replaceChildren();
  const img = $('#rec-img');
  if (img.src) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(file);
  $('#rec-stage').hidden = false;
  await identify();
}

async function identify() {
  const current = identifying();
  const form = new FormData();
  form.append('image', photo);
  form.append('k', '5');
  say('Recognising…');
  $('#rec-summary').textContent = '';
  let found;
  try {
    found = await call('POST', '/v1/identify', { form });
  } catch (e) {
    if (!current()) return;
    answer = null;
    $('#rec-boxes').replaceChildren();
    sayError(e);
    return;
  }
  try {
    await $('#rec-img').decode();
  } catch {
    // Formats the browser cannot show (TIFF): the boxes are still listed.
  }
  if (!current()) return; // a newer photo (or a re-run) is being recognised
  answer = found;
  draw();
  const known = answer.faces.filter((f) => f.match).length;
  const n = answer.faces.length;
  $('#rec-summary').textContent =
    `${n} face${n === 1 ? '' : 's'}: ${known} recognised, ${n - known} unknown ` +
    `(identification threshold ${fixed(answer.threshold)}). Choose a face for its candidates.`;
  say(n ? 'Done.' : 'No face found in this photo.');
  if (selected !== null && selected < n) select(selected);
}

const label = (f) => (f.match ? `${f.match.subject_name} ${fixed(f.match.score, 2)}` : 'unknown');
const pct = (x) => `${(100 * x).toFixed(3)}%`;

function draw() {
  const img = $('#rec-img');
  const [w, h] = [img.naturalWidth || 1, img.naturalHeight || 1];
  // Boxes in reading order (left to right), so that Tab and screen readers meet them so.
  const centre = (i) => answer.faces[i].bbox.x1 + answer.faces[i].bbox.x2;
  const order = answer.faces.map((_, i) => i).sort((a, b) => centre(a) - centre(b));
  $('#rec-boxes').replaceChildren(...order.map((i, n) => {
    const f = answer.faces[i];
    const b = f.bbox;
    return el('button', {
      type: 'button',
      // Labels of faces on the right half hang leftwards, so that they stay on the photo.
      class: `box ${f.match ? 'known' : 'unknown'}${(b.x1 + b.x2) / 2 > w / 2 ? ' right' : ''}`,
      style: { left: pct(b.x1 / w), top: pct(b.y1 / h), width: pct((b.x2 - b.x1) / w), height: pct((b.y2 - b.y1) / h) },
      'aria-label': `Face ${n + 1}: ${label(f)}`,
      'aria-pressed': String(i === selected),
      dataset: { face: i },
      onclick: () => select(i),
    }, el('span', { class: 'tag', text: label(f) }));
  }));
}

async function select(i) {
  selected = i;
  for (const b of document.querySelectorAll('#rec-boxes .box')) b.setAttribute('aria-pressed', String(b.dataset.face === String(i)));
  const f = answer.faces[i];
  $('#rec-detail').hidden = false;
  $('#rec-detail-title').textContent = `Face ${i + 1}`;
  $('#rec-detail-match').textContent = f.match
    ? `Recognised as ${f.match.subject_name} (cosine ${fixed(f.match.score)}).`
    : `Unknown: no subject reaches the threshold ${fixed(answer.threshold)}.`;
  const list = $('#rec-candidates');
  list.replaceChildren(...(f.candidates.length ? f.candidates.map((c) => {
    const img = el('img', { class: 'crop', alt: `Enrolled face of ${c.subject_name}`, hidden: true });
    cropUrl(c.face_id).then((url) => {
      if (url) {
        img.src = url;
        img.hidden = false;
      }
    }).catch(() => {});
    return el('li', {},
      img,
      el('a', { href: `#/gallery/${encodeURIComponent(c.subject_id)}`, text: c.subject_name }),
      el('span', { class: 'score', text: ` ${fixed(c.score)}` }));
  }) : [el('li', { text: 'The gallery is empty.' })]));
}

async function enrol(e) {
  e.preventDefault();
  if (!answer || selected === null) return;
  const name = $('#rec-enrol-name').value.trim();
  if (!name) return;
  // The photo and face as they are now: another photo may be chosen while this one is enrolled.
  const [file, index] = [photo, selected];
  try {
    let subject = await subjectNamed(name);
    if (!subject) subject = await call('POST', '/v1/subjects', { json: { name } });
    const form = new FormData();
    form.append('image', file);
    form.append('face', String(index));
    const face = await call('POST', `/v1/subjects/${encodeURIComponent(subject.id)}/faces`, { form });
    const which = index + 1;
    $('#rec-enrol-name').value = '';
    refreshNames().catch(() => {});
    if (photo === file) await identify();
    say(`Face ${which} enrolled as ${subject.name} (face ${face.id}).`);
  } catch (err) {
    sayError(err);
  }
}
