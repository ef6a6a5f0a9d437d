//! The `ray` command: `ray start --head`, `ray start --address`, `ray status`, `ray stop`,
//! the state commands (`ray list`, `ray summary`, `ray memory`, `ray logs`,
//! `ray timeline`), the actions (`ray kill-actor`, `ray cancel`), `ray job` and
//! `ray completions`. Its arguments are clap structs (`args.rs`, `job.rs`), whose doc
//! comments are the help; each verb's work is in a module of its own.
//! Nodes it starts run in the background; their pids and the cluster address are kept in
//! a private state directory (`state.rs`) so that `status` and `stop` find them; each
//! node's log is in its `logs/`.

#[path = "ray/actions.rs"]
mod actions;
#[path = "ray/args.rs"]
mod args;
#[path = "ray/job.rs"]
mod job;
#[path = "ray/list.rs"]
mod list;
#[path = "ray/logs.rs"]
mod logs;
#[path = "ray/progress.rs"]
mod progress;
#[path = "ray/start.rs"]
mod start;
#[path = "ray/state.rs"]
mod state;
#[path = "ray/status.rs"]
mod status;
#[path = "ray/summary.rs"]
mod summary;

use clap::{CommandFactory, Parser};

use args::{Cli, Verb};

/// What a command failed with: printed as `ray: MESSAGE`, exit status 1. (A bad command
/// line is clap's error, exit status 2.)
type CliResult<T = ()> = Result<T, String>;

fn main() {
    // `--help`, `--version` and bad arguments end here (clap's exit statuses 0 and 2).
    let cli = Cli::parse();
    // RAY_LOG sets what the nodes `ray start` runs log; the other commands join the
    // cluster with a short-lived node of their own, whose routine events would only
    // clutter their output.
    let filter = match cli.verb {
        Verb::Start(_) => std::env::var("RAY_LOG").unwrap_or_else(|_| "warn".into()),
        _ => "warn".into(),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
    match run(&cli.verb) {
        // `ray job submit` exits as its job did.
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("ray: {e}");
            std::process::exit(1);
        }
    }
}

/// Runs one verb; the process's exit status.
fn run(verb: &Verb) -> CliResult<i32> {
    match verb {
        Verb::Start(a) => start::start(a),
        Verb::Stop => start::stop(),
        Verb::Status(a) => status::status(a),
        Verb::List(a) => list::list(a),
        Verb::Summary(a) => summary::summary(a),
        Verb::Memory(a) => list::memory(a),
        Verb::Logs(a) => logs::logs(a),
        Verb::Timeline(a) => list::timeline(a),
        Verb::KillActor(a) => actions::kill_actor(a),
        Verb::Cancel(a) => actions::cancel(a),
        Verb::Job(j) => return job::job(j),
        Verb::Completions(a) => {
            let mut cmd = Cli::command();
            clap_complete::generate(a.shell, &mut cmd, "ray", &mut std::io::stdout());
            Ok(())
        }
    }
    .map(|()| 0)
}
