// The single page: a screen per hash route (#/recognise, #/verify, #/gallery[/id], #/jobs,
// #/review, #/quality, #/system), the API key prompt, and a record of unexpected errors.

import { getKey, onUnauthorized, setKey, get, getCollection, setCollection } from './api.js';
import { $, $$, el, say } from './dom.js';
import * as recognise from './recognise.js';
import * as verify from './verify.js';
import * as gallery from './gallery.js';
import * as jobs from './jobs.js';
import * as review from './review.js';
import * as quality from './quality.js';
import * as system from './system.js';

const screens = { recognise, verify, gallery, jobs, review, quality, system };

// Anything unexpected is shown, and kept where a test (or a curious person) can read it.
window.visageErrors = [];
const unexpected = (message) => {
  window.visageErrors.push(message);
  say(`Unexpected error: ${message}`, 'error');
};
addEventListener('error', (e) => unexpected(e.message));
addEventListener('unhandledrejection', (e) => unexpected(e.reason && e.reason.message ? e.reason.message : String(e.reason)));

let shown = null;

function route() {
  const [name, ...rest] = location.hash.replace(/^#\/?/, '').split('/');
  const screen = screens[name] ? name : 'recognise';
  // The status line speaks of the screen it was said on.
  if (shown !== null && shown !== screen) say('');
  shown = screen;
  for (const s of $$('main > section')) s.hidden = s.dataset.screen !== screen;
  for (const a of $$('nav a')) {
    if (a.dataset.screen === screen) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  screens[screen].show(rest.map(decodeURIComponent));
}

function openKeyDialog(message) {
  $('#key-message').textContent = message;
  $('#key-button').hidden = false;
  const dialog = $('#key-dialog');
  if (!dialog.open) dialog.showModal();
  $('#key-input').focus();
}

/** A 401 to a request sent with `sent`; one sent before the key changed is old news. */
function askForKey(error, sent) {
  if (sent !== getKey()) return;
  setKey('');
  openKeyDialog(sent
    ? `That API key was refused (${error.message}). Enter a valid key.`
    : 'This server needs an API key. It is kept for this browser tab only.');
}

onUnauthorized(askForKey);

/**
 * Fills the collection picker with the collections this key sees (the chosen one, if gone, falls
 * back to the first). False when the key was refused (the key prompt is open then).
 */
async function loadCollections() {
  let listed;
  try {
    listed = (await get('/v1/collections')).collections;
  } catch (e) {
    return e.status !== 401;
  }
  const picker = $('#collection');
  picker.replaceChildren(...listed.map((c) => el('option', { value: c.id, text: c.name === c.id ? c.id : `${c.name} (${c.id})` })));
  if (!listed.some((c) => c.id === getCollection())) setCollection(listed.length ? listed[0].id : 'default');
  picker.value = getCollection();
  return true;
}

$('#collection').addEventListener('change', (e) => {
  setCollection(e.target.value);
  say(`Working on collection ${e.target.value}.`);
  route();
});

$('#key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  setKey($('#key-input').value.trim());
  $('#key-input').value = '';
  $('#key-dialog').close();
  say('API key set for this tab.');
  loadCollections().then((accepted) => accepted && route());
});
$('#key-cancel').addEventListener('click', () => $('#key-dialog').close());
$('#key-button').addEventListener('click', () => openKeyDialog('Enter the API key to use (kept for this browser tab only).'));
// The skip link moves the focus without changing the route.
$('.skip').addEventListener('click', (e) => {
  e.preventDefault();
  $('#main').focus();
});

for (const s of Object.values(screens)) s.init();
// A new screen takes the focus (Tab goes on from its content), as a new page would.
addEventListener('hashchange', () => {
  route();
  $('#main').focus({ preventScroll: true });
});
if (getKey()) $('#key-button').hidden = false;
loadCollections().then(route);
// Learn at once whether the server wants a key (401 opens the prompt).
get('/v1/subjects?limit=1').catch(() => {});
