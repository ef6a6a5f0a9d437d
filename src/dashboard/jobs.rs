//! `GET /api/jobs`: the cluster's jobs, as the head knows them: every submitted job
//! (`ray job submit`: state, entrypoint, start and end, exit code) and every driver
//! started by hand (alive while its heartbeats come).

use std::sync::Arc;

use super::rows::JobRow;
use super::{Answer, Refused, json};
use crate::actors::{AskJobs, NodeActors, heard};
use crate::node::Node;
use crate::transport::{JobReply, JobRequest};

/// `GET /api/jobs`.
pub(super) async fn jobs(node: &Arc<Node>) -> Answer {
    let submitted = match node.actors().cluster.get() {
        Some(agent) => {
            let ask = AskJobs {
                request: JobRequest::List,
                payload: Vec::new(),
            };
            match agent.send(ask).await {
                Ok(Ok((JobReply::Jobs { jobs }, _))) => jobs,
                Ok(Ok(_)) | Err(_) => Vec::new(),
                Ok(Err(e)) => return Err(Refused(502, e.to_string())),
            }
        }
        None => Vec::new(),
    };
    let drivers = heard(node).await.jobs;
    let mut rows: Vec<JobRow> = submitted
        .iter()
        .map(|j| JobRow {
            job_id: j.job_id.to_string(),
            kind: "SUBMISSION".into(),
            state: j.state.name().into(),
            entrypoint: Some(j.entrypoint.clone()),
            start_time: Some(j.start_time_s),
            end_time: j.end_time_s,
            exit_code: j.exit_code,
            message: j.message.clone(),
            driver_node_id: drivers
                .iter()
                .find(|d| d.job_id == j.job_id && d.alive)
                .map(|d| d.driver.to_string()),
        })
        .collect();
    rows.extend(
        drivers
            .iter()
            .filter(|d| submitted.iter().all(|j| j.job_id != d.job_id))
            .map(|d| JobRow {
                job_id: d.job_id.to_string(),
                kind: "DRIVER".into(),
                state: if d.alive { "RUNNING" } else { "FINISHED" }.into(),
                entrypoint: None,
                start_time: None,
                end_time: None,
                exit_code: None,
                message: None,
                driver_node_id: Some(d.driver.to_string()),
            }),
    );
    json(rows)
}
