// Enrol in bulk: upload an archive of person/photo folders as a job, or pick a server folder
// under the allowed roots; follow its progress (rate, ETA) from the job's status, cancel it,
// then read its report, problems first.

import { call, get } from './api.js';
import { $, el, latest, say, sayError } from './dom.js';

const DONE = ['completed', 'cancelled', 'failed'];
let job = null; // the job followed: its last status
let timer = null;
const following = latest();

export function init() {
  $('#job-form').addEventListener('submit', start);
  $('#job-cancel').addEventListener('click', cancel);
  $('#job-folder-form').addEventListener('submit', startFromFolder);
}

export async function show() {
  try {
    const { folders } = await get('/v1/folders');
    $('#job-folder').replaceChildren(...folders.map((f) =>
      el('option', { value: f.path, text: `${f.path} (${f.subfolders} folder${f.subfolders === 1 ? '' : 's'})` })));
    const none = folders.length === 0;
    $('#job-folder-note').hidden = !none;
    for (const c of $('#job-folder-form').elements) c.disabled = none;
  } catch (err) {
    sayError(err);
  }
}

function archiveType(name) {
  const n = name.toLowerCase();
  if (n.endsWith('.zip')) return 'application/zip';
  if (n.endsWith('.tar')) return 'application/x-tar';
  if (n.endsWith('.tar.gz') || n.endsWith('.tgz')) return 'application/gzip';
  return null;
}

async function start(e) {
  e.preventDefault();
  const file = $('#job-file').files[0];
  const type = file && archiveType(file.name);
  if (!type) {
    say('Choose a .zip, .tar or .tar.gz archive.', 'error');
    return;
  }
  const current = stopFollowing();
  say(`Uploading ${file.name}…`);
  try {
    const multi = $('#job-multi').value;
    started(await call('POST', `/v1/jobs/enroll?multi_face=${multi}`, { body: file, type }), file.name, current);
  } catch (err) {
    sayError(err);
  }
}

async function startFromFolder(e) {
  e.preventDefault();
  const folder = $('#job-folder').value;
  if (!folder) return;
  const current = stopFollowing();
  try {
    const json = { source: { folder }, gate: { multi_face: $('#job-multi').value } };
    started(await call('POST', '/v1/jobs/enroll', { json }), folder, current);
  } catch (err) {
    sayError(err);
  }
}

/**
 * Stops following the job shown (its pending poll, and any poll already in flight, which drops
 * its answer); the check of the run that follows the next job.
 */
function stopFollowing() {
  clearTimeout(timer);
  $('#job-report').hidden = true;
  return following();
}

function started(created, what, current) {
  if (!current()) return; // another job was started meanwhile
  job = created;
  $('#job-name').textContent = `Job ${job.id} (${what})`;
  $('#job-run').hidden = false;
  say('Job started.');
  follow(job.id, current);
}

const seconds = (s) => (s >= 90 ? `${Math.round(s / 60)} min` : `${Math.round(s)} s`);

async function follow(id, current) {
  let status;
  try {
    status = await get(`/v1/jobs/${encodeURIComponent(id)}`);
  } catch (err) {
    if (current()) sayError(err);
    return;
  }
  if (!current()) return;
  job = status;
  const c = job.counts;
  const progress = $('#job-progress');
  progress.max = Math.max(1, job.total || 0);
  progress.value = c.processed;
  const parts = [
    `${job.state}`,
    `${c.processed} of ${job.total ?? '?'} photos`,
    `${c.enrolled} enrolled`,
    `${c.rejected + c.failed} not enrolled`,
  ];
  if (job.rate) parts.push(`${job.rate.toFixed(1)} photos/s`);
  if (job.eta_s !== null && job.eta_s !== undefined && !DONE.includes(job.state)) parts.push(`about ${seconds(job.eta_s)} left`);
  $('#job-figures').textContent = parts.join(' · ');
  $('#job-run').dataset.state = job.state;
  $('#job-cancel').disabled = DONE.includes(job.state);
  if (DONE.includes(job.state)) {
    say(`Job ${job.state}.`);
    report(job, current);
  } else {
    timer = setTimeout(() => follow(id, current), 500);
  }
}

async function cancel() {
  if (!job) return;
  const { id } = job;
  try {
    const status = await call('DELETE', `/v1/jobs/${encodeURIComponent(id)}`);
    // Unless the job has ended meanwhile (the poll then says so), or another is shown.
    if (job.id === id && !DONE.includes(job.state) && !DONE.includes(status.state)) {
      say('Cancelling: photos in flight are finished first.');
    }
  } catch (err) {
    sayError(err);
  }
}

/** The finished job's report: `done` is its final status, `current` the run following it. */
async function report(done, current) {
  try {
    const r = await get(`/v1/jobs/${encodeURIComponent(done.id)}/report?problems=true&limit=1000`);
    if (!current()) return;
    const outcomes = Object.entries(done.counts.by_outcome).map(([k, v]) => `${k.replaceAll('_', ' ')}: ${v}`);
    $('#job-counts').textContent = `${done.counts.enrolled} enrolled of ${done.counts.processed} processed` +
      (outcomes.length ? ` (${outcomes.join(', ')})` : '') + (done.error ? `. Error: ${done.error}` : '.');
    $('#job-problems').replaceChildren(...(r.items.length ? r.items.map((i) => el('tr', { dataset: { outcome: i.outcome } },
      el('td', { text: i.item }),
      el('td', { text: i.subject }),
      el('td', { text: i.outcome.replaceAll('_', ' ') }),
      el('td', { text: i.reason || '' }))) : [el('tr', {}, el('td', { colspan: 4, text: 'Every photo was enrolled.' }))]));
    $('#job-report').hidden = false;
  } catch (err) {
    sayError(err);
  }
}
