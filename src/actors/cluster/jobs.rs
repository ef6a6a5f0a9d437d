//! The head's job table: every driver program it has heard from (drivers send their job
//! id with each heartbeat), alive while its heartbeats keep coming.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::ids::{JobId, NodeId};
use crate::transport::WireJob;

/// Finished jobs kept for `ray status`; older ones are forgotten.
const KEEP_FINISHED: usize = 100;

#[derive(Default)]
pub(super) struct Jobs(BTreeMap<JobId, Entry>);

struct Entry {
    driver: NodeId,
    at: Option<super::NodeAddr>,
    started: Instant,
    seen: Instant,
}

impl Jobs {
    /// A driver's heartbeat, with where it listens.
    pub(super) fn heard(&mut self, job_id: JobId, driver: NodeId, at: Option<super::NodeAddr>) {
        let now = Instant::now();
        let e = self.0.entry(job_id).or_insert_with(|| {
            tracing::info!(job_id = %job_id, driver = %driver, "job started");
            Entry {
                driver,
                at,
                started: now,
                seen: now,
            }
        });
        e.seen = now;
    }

    /// The table as members see it; a job not heard from within `timeout` has ended.
    pub(super) fn view(&mut self, timeout: Duration) -> Vec<WireJob> {
        let finished: Vec<JobId> = self
            .0
            .iter()
            .filter(|(_, e)| e.seen.elapsed() > timeout)
            .map(|(id, _)| *id)
            .collect();
        for id in finished
            .iter()
            .take(finished.len().saturating_sub(KEEP_FINISHED))
        {
            self.0.remove(id);
        }
        self.0
            .iter()
            .map(|(id, e)| WireJob {
                job_id: *id,
                driver: e.driver,
                alive: e.seen.elapsed() <= timeout,
                age_s: e.started.elapsed().as_secs_f64(),
                at: e.at,
            })
            .collect()
    }
}
