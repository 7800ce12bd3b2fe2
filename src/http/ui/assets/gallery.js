// Gallery: subjects paged and searchable by name; a subject's faces; rename, merge, delete a
// face, delete a subject (deletions and merges ask first).

import { call, cropUrl, get, refreshNames, subjectNamed } from './api.js';
import { $, confirmAction, el, fixed, latest, say, sayError, when } from './dom.js';

const PAGE = 20;
let offset = 0;
let query = '';
let subject = null; // the subject shown, on its page
const listing = latest();
const opening = latest();

export function init() {
  $('#gal-search').addEventListener('submit', (e) => {
    e.preventDefault();
    query = $('#gal-q').value.trim();
    offset = 0;
    list();
  });
  $('#gal-prev').addEventListener('click', () => {
    offset = Math.max(0, offset - PAGE);
    list();
  });
  $('#gal-next').addEventListener('click', () => {
    offset += PAGE;
    list();
  });
  $('#sub-rename').addEventListener('submit', rename);
  $('#sub-merge').addEventListener('submit', merge);
  $('#sub-delete').addEventListener('click', remove);
}

export function show([id]) {
  $('#gal-list').hidden = Boolean(id);
  $('#gal-subject').hidden = !id;
  if (id) open(id);
  else list();
}

/** The first kept crop of a subject's faces, for its row. */
async function thumbnail(s, img) {
  if (!s.faces) return;
  const faces = (await get(`/v1/subjects/${encodeURIComponent(s.id)}/faces`)).faces;
  const face = faces.find((f) => f.has_crop);
  const url = face && (await cropUrl(face.id));
  if (url) {
    img.src = url;
    img.hidden = false;
  }
}

async function list() {
  const current = listing();
  try {
    const q = query ? `&q=${encodeURIComponent(query)}` : '';
    const page = await get(`/v1/subjects?offset=${offset}&limit=${PAGE}${q}`);
    if (!current()) return; // a newer search or page is on its way
    $('#gal-rows').replaceChildren(...(page.subjects.length ? page.subjects.map((s) => {
      const img = el('img', { class: 'crop', alt: `A face of ${s.name}`, hidden: true });
      thumbnail(s, img).catch(() => {});
      return el('tr', { dataset: { subject: s.id } },
        el('td', {}, img),
        el('td', {}, el('a', { href: `#/gallery/${encodeURIComponent(s.id)}`, text: s.name })),
        el('td', { class: 'id', text: s.id }),
        el('td', { class: 'num', text: s.faces }));
    }) : [el('tr', {}, el('td', { colspan: 4, text: query ? `No subject's name contains “${query}”.` : 'No subjects yet.' }))]));
    const last = Math.min(page.total, offset + page.subjects.length);
    $('#gal-caption').textContent = query ? `Subjects whose name contains “${query}”` : 'Subjects';
    $('#gal-range').textContent = page.total ? `${offset + 1}–${last} of ${page.total}` : '0 subjects';
    $('#gal-prev').disabled = offset === 0;
    $('#gal-next').disabled = last >= page.total;
  } catch (e) {
    if (current()) sayError(e);
  }
}

async function open(id) {
  const current = opening();
  try {
    const shown = await get(`/v1/subjects/${encodeURIComponent(id)}`);
    const faces = (await get(`/v1/subjects/${encodeURIComponent(id)}/faces`)).faces;
    // Another subject opened meanwhile: its page, not this one, is drawn (the name, the faces
    // and the subject the actions act on always belong together).
    if (!current()) return;
    subject = shown;
    $('#sub-title').textContent = subject.name;
    $('#sub-meta').textContent = `Id ${subject.id} · ${subject.faces} face${subject.faces === 1 ? '' : 's'} · created ${when(subject.created_at)}`;
    $('#sub-name').value = subject.name;
    $('#sub-merge-into').value = '';
    $('#sub-faces').replaceChildren(...(faces.length ? faces.map(faceRow) : [el('tr', {}, el('td', { colspan: 8, text: 'No faces enrolled.' }))]));
    refreshNames().catch(() => {});
  } catch (e) {
    if (!current()) return;
    $('#sub-title').textContent = 'Subject not found';
    $('#sub-faces').replaceChildren();
    sayError(e);
  }
}

function faceRow(f) {
  const img = el('img', { class: 'crop', alt: `Face ${f.id}`, hidden: true });
  if (f.has_crop) cropUrl(f.id).then((url) => {
    if (url) {
      img.src = url;
      img.hidden = false;
    }
  }).catch(() => {});
  const source = f.external_id || `photo ${f.image_sha256.slice(0, 12)}…`;
  return el('tr', { dataset: { face: f.id } },
    el('td', {}, img),
    el('td', { class: 'id', text: f.id }),
    el('td', { class: 'num', text: f.quality ? fixed(f.quality.eye_distance, 1) : '–' }),
    el('td', { class: 'num', text: f.quality ? fixed(f.quality.sharpness, 1) : '–' }),
    el('td', { class: 'num', text: fixed(f.score) }),
    el('td', { text: source, title: f.image_sha256 }),
    el('td', { text: when(f.created_at) }),
    el('td', {}, el('button', { type: 'button', class: 'danger', text: 'Delete face…', 'aria-label': `Delete face ${f.id}`, onclick: () => removeFace(f) })));
}

async function rename(e) {
  e.preventDefault();
  const name = $('#sub-name').value.trim();
  try {
    subject = await call('PATCH', `/v1/subjects/${encodeURIComponent(subject.id)}`, { json: { name } });
    say(`Renamed to ${subject.name}.`);
    open(subject.id);
  } catch (err) {
    sayError(err);
  }
}

async function merge(e) {
  e.preventDefault();
  const target = $('#sub-merge-into').value.trim();
  try {
    let into = await subjectNamed(target);
    if (!into) into = await get(`/v1/subjects/${encodeURIComponent(target)}`).catch(() => null);
    if (!into) {
      say(`There is no subject named or with id “${target}”.`, 'error');
      return;
    }
    if (into.id === subject.id) {
      say('Choose another subject to merge into.', 'error');
      return;
    }
    const ok = await confirmAction(
      `Merge ${subject.name} (${subject.faces} faces) into ${into.name}? Its faces move to ${into.name} and ${subject.name} is deleted.`,
      'Merge');
    if (!ok) return;
    const merged = await call('POST', `/v1/subjects/${encodeURIComponent(subject.id)}/merge`, { json: { into: into.id } });
    say(`Merged ${subject.name} into ${merged.name}.`);
    location.hash = `#/gallery/${encodeURIComponent(merged.id)}`;
  } catch (err) {
    sayError(err);
  }
}

async function remove() {
  const ok = await confirmAction(`Delete ${subject.name} and its ${subject.faces} faces? This cannot be undone.`, 'Delete subject');
  if (!ok) return;
  try {
    const r = await call('DELETE', `/v1/subjects/${encodeURIComponent(subject.id)}`);
    say(`Deleted ${subject.name} (${r.deleted_faces} faces).`);
    location.hash = '#/gallery';
  } catch (err) {
    sayError(err);
  }
}

async function removeFace(f) {
  const ok = await confirmAction(`Delete face ${f.id} of ${subject.name}? This cannot be undone.`, 'Delete face');
  if (!ok) return;
  try {
    await call('DELETE', `/v1/faces/${f.id}`);
    say(`Deleted face ${f.id}.`);
    open(subject.id);
  } catch (err) {
    sayError(err);
  }
}
