//! `ray job submit | list | status | logs | stop`: programs run on a standing cluster,
//! from any machine with its address. Each command joins the cluster briefly (as the
//! other state commands do) and asks its head over the cluster's QUIC link.

use std::io::Write;
use std::time::Duration;

use ray::JobId;
use ray::job_submission::{self as jobs, JobRecord, JobState, JobSubmission};
use serde_json::{Value, json};

use super::CliResult;

/// How often `--follow` and `submit` ask for more output.
const POLL: Duration = Duration::from_millis(200);

#[derive(Default)]
struct Opts {
    address: Option<String>,
    working_dir: Option<String>,
    env: Vec<(String, String)>,
    no_wait: bool,
    follow: bool,
    json: bool,
    /// The job id (`status`, `logs`, `stop`).
    positional: Vec<String>,
    /// `submit`: the program and its arguments, after `--`.
    program: Vec<String>,
}

fn parse(args: &[String]) -> CliResult<Opts> {
    let mut o = Opts::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--address" => o.address = Some(value("--address")?),
            "--working-dir" => o.working_dir = Some(value("--working-dir")?),
            "--env" => {
                let kv = value("--env")?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or(format!("--env takes KEY=VALUE, got `{kv}`"))?;
                o.env.push((k.to_string(), v.to_string()));
            }
            "--no-wait" => o.no_wait = true,
            "--follow" | "-f" => o.follow = true,
            "--format" => o.json = value("--format")? == "json",
            "--" => o.program = it.by_ref().cloned().collect(),
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            other => o.positional.push(other.to_string()),
        }
    }
    if o.address.is_none() {
        o.address = std::env::var("RAY_ADDRESS").ok().filter(|a| !a.is_empty());
    }
    Ok(o)
}

impl Opts {
    fn job_id(&self) -> CliResult<JobId> {
        let id = self.positional.first().ok_or("which job? give its id")?;
        id.parse().map_err(|e: ray::InvalidId| e.to_string())
    }

    fn connect(&self) -> CliResult {
        super::state::connect(self.address.as_deref())
    }
}

/// `ray job VERB ...`; the process's exit status for `submit`.
pub(super) fn job(args: &[String]) -> CliResult<i32> {
    let verb = args.first().map(String::as_str).unwrap_or("");
    let o = parse(args.get(1..).unwrap_or_default())?;
    match verb {
        "submit" => submit(&o),
        "list" => {
            o.connect()?;
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
            super::list::print(&rows, &cols, o.json).map(|()| 0)
        }
        "status" => {
            o.connect()?;
            let info = jobs::get_job_info(o.job_id()?).map_err(|e| e.to_string())?;
            describe(&info);
            Ok(0)
        }
        "logs" => {
            o.connect()?;
            print_logs(o.job_id()?, o.follow)?;
            Ok(0)
        }
        "stop" => {
            o.connect()?;
            let job_id = o.job_id()?;
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
        _ => Err(format!(
            "unknown `ray job` command `{verb}`\n{}",
            super::USAGE
        )),
    }
}

fn submit(o: &Opts) -> CliResult<i32> {
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
    o.connect()?;
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
