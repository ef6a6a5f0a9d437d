//! `ray job submit | list | status | logs | stop`: programs run on a standing cluster,
//! from any machine with its address. Each command joins the cluster briefly (as the
//! other state commands do) and asks its head over the cluster's QUIC link.

use std::io::Write;
use std::time::Duration;

use clap::{Args, Subcommand};
use ray::JobId;
use ray::job_submission::{self as jobs, JobRecord, JobState, JobSubmission};
use serde_json::{Value, json};

use super::CliResult;
use super::args::{Cluster, Output};

/// How often `--follow` and `submit` ask for more output.
const POLL: Duration = Duration::from_millis(200);

/// `ray job VERB`.
#[derive(Subcommand)]
pub(super) enum JobVerb {
    /// Run a program on the cluster as a job: uploaded to the head (once per build), which
    /// runs it as the job's driver and streams its output back
    Submit(SubmitArgs),
    /// List the cluster's submitted jobs
    List {
        #[command(flatten)]
        cluster: Cluster,
        #[command(flatten)]
        output: Output,
    },
    /// Show a job's state, entrypoint, exit code and message
    Status(JobArgs),
    /// Print a job's output so far, or follow it until the job ends
    Logs {
        #[command(flatten)]
        job: JobArgs,
        /// Keep printing its output as it is written, until the job ends
        #[arg(long, short)]
        follow: bool,
    },
    /// Stop a job (SIGTERM to its processes) and wait until it has ended
    Stop(JobArgs),
}

#[derive(Args)]
pub(super) struct SubmitArgs {
    #[command(flatten)]
    cluster: Cluster,
    /// A directory uploaded with the program: the job's current directory
    #[arg(long, value_name = "DIR")]
    working_dir: Option<String>,
    /// An environment variable for the job, KEY=VALUE (repeat for more)
    #[arg(long, value_name = "KEY=VALUE", value_parser = key_value)]
    env: Vec<(String, String)>,
    /// Return once submitted, instead of following the job's output until it ends (and
    /// exiting with its exit code)
    #[arg(long)]
    no_wait: bool,
    /// The program to run (a binary of your own build) and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "PROGRAM ARGS")]
    program: Vec<String>,
}

#[derive(Args)]
pub(super) struct JobArgs {
    /// The job, as `ray job submit` or `ray job list` shows it (job-...)
    #[arg(value_name = "JOB_ID")]
    job_id: JobId,
    #[command(flatten)]
    cluster: Cluster,
}

/// `--env KEY=VALUE`.
fn key_value(kv: &str) -> Result<(String, String), String> {
    let (k, v) = kv
        .split_once('=')
        .ok_or(format!("--env takes KEY=VALUE, got `{kv}`"))?;
    if k.is_empty() {
        return Err(format!("--env takes KEY=VALUE, got `{kv}`"));
    }
    Ok((k.to_string(), v.to_string()))
}

/// `ray job VERB ...`; the process's exit status for `submit`.
pub(super) fn job(verb: &JobVerb) -> CliResult<i32> {
    match verb {
        JobVerb::Submit(args) => submit(args),
        JobVerb::List { cluster, output } => {
            cluster.connect()?;
            let rows: Vec<Value> = jobs::list_jobs()
                .map_err(|e| e.to_string())?
                .iter()
                .map(row)
                .collect();
            let cols = [
                "job_id",
                "state",
                "entrypoint",
                "start_time",
                "end_time",
                "exit_code",
            ];
            super::list::print(&rows, &cols, output.json()).map(|()| 0)
        }
        JobVerb::Status(j) => {
            j.cluster.connect()?;
            let info = jobs::get_job_info(j.job_id).map_err(|e| e.to_string())?;
            describe(&info);
            Ok(0)
        }
        JobVerb::Logs { job, follow } => {
            job.cluster.connect()?;
            print_logs(job.job_id, *follow)?;
            Ok(0)
        }
        JobVerb::Stop(j) => stop(j),
    }
}

fn stop(j: &JobArgs) -> CliResult<i32> {
    j.cluster.connect()?;
    let job_id = j.job_id;
    let before = jobs::stop_job(job_id).map_err(|e| e.to_string())?;
    if before.state.is_terminal() {
        println!(
            "Job '{job_id}' had already ended ({}).",
            before.state.name()
        );
        return Ok(0);
    }
    eprintln!("Stopping job '{job_id}'...");
    let info = jobs::wait_job(job_id).map_err(|e| e.to_string())?;
    println!("Job '{job_id}' is {}.", info.state.name());
    Ok(0)
}

fn submit(o: &SubmitArgs) -> CliResult<i32> {
    let (program, args) = o
        .program
        .split_first()
        .ok_or("what to run? `ray job submit [OPTIONS] -- ./your-program ARGS...`")?;
    let mut job = JobSubmission::new(program).args(args.iter().cloned());
    for (k, v) in &o.env {
        job = job.env(k, v);
    }
    if let Some(dir) = &o.working_dir {
        job = job.working_dir(dir);
    }
    o.cluster.connect()?;
    let size = std::fs::metadata(program).map_or(0, |m| m.len());
    let waiting =
        super::progress::Progress::new(&format!("Submitting {program} ({size} bytes)"), 1);
    let submitted = jobs::submit_job(&job).map_err(|e| e.to_string())?;
    waiting.finish(&format!("uploaded {} bytes", submitted.uploaded_bytes));
    let job_id = submitted.job_id;
    println!(
        "Job '{job_id}' submitted successfully (uploaded {} bytes).",
        submitted.uploaded_bytes
    );
    if o.no_wait {
        println!("Follow its output:   ray job logs {job_id} --follow");
        println!("Query its status:    ray job status {job_id}");
        println!("Stop it:             ray job stop {job_id}");
        return Ok(0);
    }
    print_logs(job_id, true)?;
    let info = jobs::wait_job(job_id).map_err(|e| e.to_string())?;
    describe(&info);
    Ok(match (info.state, info.exit_code) {
        (JobState::Succeeded, _) => 0,
        (_, Some(code)) if (1..=255).contains(&code) => code,
        _ => 1,
    })
}

/// Prints the job's output so far, or (`follow`) as it is written until the job ends.
fn print_logs(job_id: JobId, follow: bool) -> CliResult {
    let mut offset = 0;
    loop {
        let chunk = jobs::get_job_logs(job_id, offset).map_err(|e| e.to_string())?;
        write_out(&chunk.data)?;
        offset += chunk.data.len() as u64;
        match (chunk.done, chunk.data.is_empty(), follow) {
            (true, _, _) | (_, true, false) => return Ok(()),
            (_, true, true) => std::thread::sleep(POLL),
            _ => {}
        }
    }
}

fn write_out(data: &[u8]) -> CliResult {
    let mut out = std::io::stdout().lock();
    out.write_all(data)
        .and_then(|()| out.flush())
        .map_err(|e| e.to_string())
}

fn time(s: Option<f64>) -> Value {
    s.map_or(Value::Null, |s| json!(format!("{s:.3}")))
}

fn row(j: &JobRecord) -> Value {
    json!({
        "job_id": j.job_id.to_string(),
        "state": j.state.name(),
        "entrypoint": j.entrypoint,
        "start_time": time(Some(j.start_time_s)),
        "end_time": time(j.end_time_s),
        "exit_code": j.exit_code,
        "message": j.message,
        "driver_pid": j.driver_pid,
    })
}

fn describe(info: &JobRecord) {
    println!("Job '{}': {}", info.job_id, info.state.name());
    println!("  entrypoint: {}", info.entrypoint);
    if let Some(code) = info.exit_code {
        println!("  exit code:  {code}");
    }
    if let Some(message) = &info.message {
        println!("  message:    {message}");
    }
}
