// Review unknowns: faces identify answered "unknown" (kept with review.enabled), grouped by
// similarity; name a group (or one face) as an existing or new subject, or discard it.

import { call, get, refreshNames, subjectNamed } from './api.js';
import { $, confirmAction, el, fixed, latest, say, sayError, when } from './dom.js';

const PAGE = 12;
let offset = 0;
const crops = new Map(); // review item id -> object URL
const listing = latest();

export function init() {
  $('#rev-prev').addEventListener('click', () => {
    offset = Math.max(0, offset - PAGE);
    list();
  });
  $('#rev-next').addEventListener('click', () => {
    offset += PAGE;
    list();
  });
}

export function show() {
  list();
  refreshNames().catch(() => {});
}

function cropOf(item) {
  const img = el('img', { class: 'crop big', alt: `Unknown face ${item.id}`, hidden: true });
  if (!item.has_crop) return img;
  if (!crops.has(item.id)) {
    crops.set(item.id, call('GET', `/v1/review/items/${item.id}/crop`).then((b) => URL.createObjectURL(b)).catch(() => null));
  }
  crops.get(item.id).then((url) => {
    if (url) {
      img.src = url;
      img.hidden = false;
    }
  });
  return img;
}

function forget(items) {
  for (const id of items) {
    const url = crops.get(id);
    crops.delete(id);
    if (url) url.then((u) => u && URL.revokeObjectURL(u));
  }
}

async function list() {
  const current = listing();
  try {
    const page = await get(`/v1/review/groups?offset=${offset}&limit=${PAGE}`);
    if (!current()) return; // a newer list (after another naming or discard) is on its way
    if (!page.groups.length && offset > 0) {
      offset = Math.max(0, offset - PAGE);
      return list();
    }
    $('#rev-note').textContent = page.enabled
      ? `${page.total_items} unknown face${page.total_items === 1 ? '' : 's'} in ${page.total_groups} group${page.total_groups === 1 ? '' : 's'}, grouped at the verify threshold ${fixed(page.threshold)}.`
      : `Unknown faces are not being kept (review.enabled is off)${page.total_items ? `; ${page.total_items} kept earlier remain` : ''}.`;
    $('#rev-groups').replaceChildren(...(page.groups.length ? page.groups.map(groupCard)
      : [el('p', { class: 'empty', text: 'Nothing to review.' })]));
    const last = Math.min(page.total_groups, offset + page.groups.length);
    $('#rev-range').textContent = page.total_groups ? `Groups ${offset + 1}–${last} of ${page.total_groups}` : '';
    $('#rev-prev').disabled = offset === 0;
    $('#rev-next').disabled = last >= page.total_groups;
  } catch (e) {
    if (current()) sayError(e);
  }
}

function groupCard(g) {
  const items = g.items.map((i) => i.id);
  const input = `rev-name-${g.id}`;
  const faces = g.items.map((i) => el('li', { dataset: { item: i.id } },
    cropOf(i),
    el('span', { class: 'score', text: `${when(i.created_at)}`, title: `photo ${i.image_sha256}` }),
    el('button', { type: 'button', class: 'quiet small', text: 'Not this one', 'aria-label': `Discard face ${i.id} only`, onclick: () => discard([i.id], 'this face') })));
  return el('article', { class: 'panel group', dataset: { group: g.id }, 'aria-label': `Group of ${items.length} face${items.length === 1 ? '' : 's'}` },
    el('h3', { text: `${items.length} face${items.length === 1 ? '' : 's'}` }),
    el('ul', { class: 'faces' }, faces),
    el('form', { class: 'row', onsubmit: (e) => { e.preventDefault(); name(items, $(`#${input}`).value.trim()); } },
      el('label', { for: input, text: 'This is (an existing or a new subject\'s name)' }),
      el('input', { id: input, list: 'subject-names', required: true, autocomplete: 'off' }),
      el('button', { type: 'submit', text: 'Name the group' })),
    el('button', { type: 'button', class: 'danger', text: 'Not a person to keep…', onclick: () => discard(items, `these ${items.length} faces`) }));
}

async function name(items, who) {
  if (!who) return;
  try {
    const existing = await subjectNamed(who);
    const json = existing ? { items, subject_id: existing.id } : { items, name: who };
    const r = await call('POST', '/v1/review/name', { json });
    forget(items);
    say(`${r.faces.length} face${r.faces.length === 1 ? '' : 's'} enrolled as ${r.subject.name}${existing ? '' : ' (a new subject)'}.`);
    list();
    refreshNames().catch(() => {});
  } catch (e) {
    sayError(e);
  }
}

async function discard(items, what) {
  const ok = await confirmAction(`Discard ${what}? The faces and their crops are erased; nothing is enrolled.`, 'Discard');
  if (!ok) return;
  try {
    const r = await call('POST', '/v1/review/discard', { json: { items } });
    forget(items);
    say(`Discarded ${r.discarded} face${r.discarded === 1 ? '' : 's'}.`);
    list();
  } catch (e) {
    sayError(e);
  }
}
