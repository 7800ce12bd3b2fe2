//! Durable bulk-job records in the gallery database. Each processed item is written in the
//! same transaction as the face it enrols, so a job stopped at any instant (crash, kill,
//! shutdown) and resumed enrols every item exactly once and reports each exactly once.

use std::collections::{HashMap, HashSet};

use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::store::{insert_face_in, now, NewFace, Store};
use crate::error::{Result, VisageError};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    origin TEXT NOT NULL,
    state TEXT NOT NULL,
    total INTEGER,
    error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE TABLE IF NOT EXISTS job_items (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    subject TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    face_id INTEGER,
    PRIMARY KEY (job_id, name)
);
";

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Completed,
    Cancelled,
    Failed,
}

impl JobState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "completed" => Self::Completed,
            "cancelled" => Self::Cancelled,
            _ => Self::Failed,
        }
    }

    /// True once the job will do nothing more.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled | Self::Failed)
    }
}

/// A stored job: its spec (JSON, owned by the enrolment layer) and its state.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub id: String,
    pub spec: String,
    /// Who runs it: `http` jobs are resumed by the server, `cli` jobs by `visage enroll`.
    pub origin: String,
    pub state: JobState,
    pub total: Option<u64>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

/// One line of a job's report.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ItemRecord {
    /// The item's path inside the source.
    pub item: String,
    pub subject: String,
    /// `enrolled`, `duplicate`, `no_face`, `several_faces`, `face_too_small`, `low_score`,
    /// `blurry`, `unreadable` or `invalid`.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face_id: Option<u64>,
}

/// One processed item to record; with a face, it is enrolled in the same transaction (the
/// subject is created when missing) and its outcome becomes `enrolled` or `duplicate`.
pub struct ItemWrite<'a> {
    pub item: &'a str,
    pub subject: &'a str,
    pub subject_name: &'a str,
    pub face: Option<NewFace<'a>>,
    pub outcome: &'static str,
    pub reason: Option<String>,
}

/// What recording an item did: its outcome and, when a face was newly enrolled, its id.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub outcome: &'static str,
    pub face_id: Option<u64>,
    pub created: bool,
}

fn job_from_row(r: &Row) -> rusqlite::Result<JobRecord> {
    Ok(JobRecord {
        id: r.get(0)?,
        spec: r.get(1)?,
        origin: r.get(2)?,
        state: JobState::parse(&r.get::<_, String>(3)?),
        total: r.get::<_, Option<i64>>(4)?.map(|t| t as u64),
        error: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
        finished_at: r.get(8)?,
    })
}

const JOB_COLUMNS: &str = "id, spec, origin, state, total, error, created_at, updated_at, finished_at FROM jobs";

impl Store {
    /// Creates a queued job; `false` (and nothing changed) when the id exists.
    pub fn create_job(&self, id: &str, spec: &str, origin: &str) -> Result<bool> {
        let t = now();
        let n = self.conn.execute(
            "INSERT INTO jobs (id, spec, origin, state, created_at, updated_at) VALUES (?1, ?2, ?3, 'queued', ?4, ?4)
             ON CONFLICT(id) DO NOTHING",
            params![id, spec, origin, t],
        )?;
        Ok(n == 1)
    }

    /// One job.
    pub fn job(&self, id: &str) -> Result<JobRecord> {
        self.conn
            .query_row(&format!("SELECT {JOB_COLUMNS} WHERE id = ?1"), [id], job_from_row)
            .optional()?
            .ok_or_else(|| VisageError::NotFound(format!("job {id:?}")))
    }

    /// Unfinished jobs of an origin, oldest first.
    pub fn unfinished_jobs(&self, origin: &str) -> Result<Vec<JobRecord>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {JOB_COLUMNS} WHERE origin = ?1 AND state IN ('queued', 'running') ORDER BY created_at, id"
        ))?;
        let rows = stmt.query_map([origin], job_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Moves a job to `state` (with an error message for `failed`).
    pub fn set_job_state(&self, id: &str, state: JobState, error: Option<&str>) -> Result<()> {
        let t = now();
        let finished = state.is_final().then_some(t);
        let n = self.conn.execute(
            "UPDATE jobs SET state = ?2, error = ?3, updated_at = ?4, finished_at = ?5 WHERE id = ?1",
            params![id, state.as_str(), error, t, finished],
        )?;
        if n == 0 {
            return Err(VisageError::NotFound(format!("job {id:?}")));
        }
        Ok(())
    }

    /// Cancels a job that is still queued (or, with `running_too`, running); `false` when it
    /// had already moved on. Conditional, so a job that just completed stays completed.
    pub fn cancel_job(&self, id: &str, running_too: bool) -> Result<bool> {
        let states = if running_too { "('queued', 'running')" } else { "('queued')" };
        let t = now();
        let n = self.conn.execute(
            &format!("UPDATE jobs SET state = 'cancelled', updated_at = ?2, finished_at = ?2 WHERE id = ?1 AND state IN {states}"),
            params![id, t],
        )?;
        Ok(n == 1)
    }

    /// Records how many items the job's source holds (`None`: to be counted again).
    pub fn set_job_total(&self, id: &str, total: Option<u64>) -> Result<()> {
        self.conn.execute(
            "UPDATE jobs SET total = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, total.map(|t| t as i64), now()],
        )?;
        Ok(())
    }

    /// Items recorded so far, per outcome.
    pub fn job_counts(&self, id: &str) -> Result<HashMap<String, u64>> {
        let mut stmt =
            self.conn.prepare("SELECT outcome, COUNT(*) FROM job_items WHERE job_id = ?1 GROUP BY outcome")?;
        let rows = stmt.query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Names of the items already recorded (what a resumed job skips).
    pub fn job_done(&self, id: &str) -> Result<HashSet<String>> {
        let mut stmt = self.conn.prepare("SELECT name FROM job_items WHERE job_id = ?1")?;
        let rows = stmt.query_map([id], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A page of a job's report in processing order, optionally only items other than `enrolled`.
    pub fn job_items(&self, id: &str, problems_only: bool, offset: u64, limit: u64) -> Result<Vec<ItemRecord>> {
        let filter = if problems_only { "AND outcome <> 'enrolled'" } else { "" };
        self.job_items_where(id, filter, &[], offset, limit)
    }

    /// A page of a job's items of one outcome, in processing order.
    pub fn job_items_with(&self, id: &str, outcome: &str, offset: u64, limit: u64) -> Result<Vec<ItemRecord>> {
        self.job_items_where(id, "AND outcome = ?4", &[outcome], offset, limit)
    }

    fn job_items_where(
        &self,
        id: &str,
        filter: &str,
        extra: &[&str],
        offset: u64,
        limit: u64,
    ) -> Result<Vec<ItemRecord>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT name, subject, outcome, reason, face_id FROM job_items WHERE job_id = ?1 {filter}
             ORDER BY rowid LIMIT ?2 OFFSET ?3"
        ))?;
        let (limit, offset) = (limit as i64, offset as i64);
        let mut values: Vec<&dyn rusqlite::ToSql> = vec![&id, &limit, &offset];
        values.extend(extra.iter().map(|e| e as &dyn rusqlite::ToSql));
        let rows = stmt.query_map(values.as_slice(), |r| {
            Ok(ItemRecord {
                item: r.get(0)?,
                subject: r.get(1)?,
                outcome: r.get(2)?,
                reason: r.get(3)?,
                face_id: r.get::<_, Option<i64>>(4)?.map(|f| f as u64),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records processed items, enrolling their faces, in one transaction. Items already
    /// recorded are left as they are (their earlier outcome stands). Returns what each did and
    /// the change log's sequence number after the batch.
    pub fn record_items(&self, job_id: &str, items: &[ItemWrite]) -> Result<(Vec<Recorded>, u64)> {
        let tx = self.conn.unchecked_transaction()?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let done: Option<String> = tx
                .prepare_cached("SELECT outcome FROM job_items WHERE job_id = ?1 AND name = ?2")?
                .query_row([job_id, item.item], |r| r.get(0))
                .optional()?;
            if done.is_some() {
                out.push(Recorded { outcome: "duplicate", face_id: None, created: false });
                continue;
            }
            let (mut outcome, mut reason, mut face_id, mut created) = (item.outcome, item.reason.clone(), None, false);
            if let Some(face) = &item.face {
                tx.prepare_cached(
                    "INSERT INTO subjects (id, name, metadata, created_at) VALUES (?1, ?2, '{}', ?3) ON CONFLICT(id) DO NOTHING",
                )?
                .execute(params![item.subject, item.subject_name, now()])?;
                match insert_face_in(&tx, item.subject, face) {
                    Ok((id, new)) => {
                        (face_id, created) = (Some(id), new);
                        outcome = if new { "enrolled" } else { "duplicate" };
                        if !new {
                            reason = Some(format!("already enrolled as face {id}"));
                        }
                    }
                    Err(VisageError::Conflict { message, .. }) => (outcome, reason) = ("invalid", Some(message)),
                    Err(e) => return Err(e),
                }
            }
            tx.prepare_cached(
                "INSERT INTO job_items (job_id, name, subject, outcome, reason, face_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![job_id, item.item, item.subject, outcome, reason, face_id.map(|f| f as i64)])?;
            out.push(Recorded { outcome, face_id, created });
        }
        tx.execute("UPDATE jobs SET updated_at = ?2 WHERE id = ?1", params![job_id, now()])?;
        tx.commit()?;
        Ok((out, self.seq()?))
    }
}
