//! The `ray` command's arguments, parsed by clap from these structs. Their doc comments
//! are what `ray --help` and `ray VERB --help` print: they are written for users.

use std::ffi::OsStr;
use std::marker::PhantomData;

use clap::builder::{EnumValueParser, PossibleValue, StyledStr, TypedValueParser};
use clap::error::{ContextKind, ContextValue};
use clap::{Args, Parser, Subcommand, ValueEnum};
use ray::{ActorId, NodeId, ObjectId, TaskId};

use super::job::JobVerb;

const AFTER_HELP: &str = "\
Commands that talk to a cluster join it briefly over its authenticated QUIC link, from any
machine that has its address: --address, else $RAY_ADDRESS, else the cluster that
`ray start --head` started on this machine.

A worker node can run your own program (every node must run the same build):
`ray start --address ADDRESS -- ./your-binary` starts it with RAY_NODE_MODE=worker, and its
first ray::init() joins the cluster and serves tasks until stopped.";

/// Ray Core for Rust: start a cluster's nodes, see what runs on it, and manage it.
#[derive(Parser)]
#[command(name = "ray", version, after_help = AFTER_HELP, max_term_width = 100)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) verb: Verb,
}

#[derive(Subcommand)]
pub(super) enum Verb {
    /// Start a node in the background: the head of a new cluster, or a node joining one
    Start(StartArgs),
    /// Stop every node that `ray start` started on this machine
    Stop,
    /// Show the cluster's nodes, resources used and total, jobs and unmet demands
    Status(StatusArgs),
    /// List the cluster's nodes, actors, tasks, objects, placement groups or jobs
    List(ListArgs),
    /// Summarize the cluster's tasks, actors or objects
    Summary(SummaryArgs),
    /// Show each node's object store and its largest objects, with their references
    Memory(MemoryArgs),
    /// Print the last lines of a node's log (the head's by default), or follow it
    Logs(LogsArgs),
    /// Write the cluster's recent tasks as a Chrome trace (open it in Perfetto)
    Timeline(TimelineArgs),
    /// Kill an actor by its id, wherever in the cluster it lives
    KillActor(KillActorArgs),
    /// Cancel a task by its id, or by the id of an object it returns
    Cancel(CancelArgs),
    /// Submit programs to the cluster as jobs; list, inspect, follow and stop them
    #[command(subcommand)]
    Job(JobVerb),
    /// Print a completion script for a shell (e.g. `ray completions bash > ~/.ray.bash`)
    Completions(CompletionsArgs),
}

/// The one `--address` option, on every verb that talks to a cluster.
#[derive(Args, Clone, Default)]
pub(super) struct Cluster {
    /// The cluster's address, as `ray start --head` printed it (ray://TOKEN@HOST:PORT#CERT)
    ///
    /// Default: $RAY_ADDRESS, else the cluster that `ray start --head` started on this
    /// machine. The address holds the cluster's token: prefer $RAY_ADDRESS to this flag on
    /// shared machines (other users see command lines).
    #[arg(long, value_name = "ADDRESS")]
    address: Option<String>,
}

impl Cluster {
    /// The address given, else `$RAY_ADDRESS` (unless empty).
    pub(super) fn address(&self) -> Option<String> {
        self.address
            .clone()
            .or_else(|| std::env::var("RAY_ADDRESS").ok().filter(|a| !a.is_empty()))
    }

    /// Joins the cluster (see `state::connect`).
    pub(super) fn connect(&self) -> super::CliResult {
        super::state::connect(self.address().as_deref())
    }
}

/// How a state command prints what it found.
#[derive(ValueEnum, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum Format {
    /// Aligned columns (or text) for people
    #[default]
    #[value(alias = "default")]
    Table,
    /// JSON, for programs
    Json,
}

/// The one `--format` option.
#[derive(Args, Clone, Copy, Default)]
pub(super) struct Output {
    /// How to print the result
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub(super) format: Format,
}

impl Output {
    pub(super) fn json(&self) -> bool {
        self.format == Format::Json
    }
}

#[derive(Args)]
#[command(mut_arg("address", |a| a
    .help("Join the cluster at this address, as `ray start --head` printed it [default: $RAY_ADDRESS]")
    .long_help(None)))]
pub(super) struct StartArgs {
    /// Start the head of a new cluster; it prints the address that nodes and drivers join
    #[arg(long)]
    pub(super) head: bool,
    // Not --head: the cluster to join.
    #[command(flatten)]
    pub(super) cluster: Cluster,
    /// The port the node listens on for the cluster's QUIC links (0: any free port)
    #[arg(long, default_value_t = 0, value_parser = port, value_name = "PORT")]
    pub(super) port: u16,
    /// The address other hosts reach this node at (default: the local address of its
    /// route to the head; a head's, of its default route)
    #[arg(long, value_name = "IP")]
    pub(super) node_ip_address: Option<String>,
    /// Where the head's dashboard listens (default 127.0.0.1; anywhere else every request
    /// needs the cluster token)
    #[arg(long, value_name = "HOST")]
    pub(super) dashboard_host: Option<String>,
    /// Logical CPUs this node offers (default: the machine's; a head offers none unless
    /// told)
    #[arg(long, value_name = "N", value_parser = amount)]
    pub(super) num_cpus: Option<f64>,
    /// GPUs this node offers (default: the adapters it finds)
    #[arg(long, value_name = "N", value_parser = amount)]
    pub(super) num_gpus: Option<f64>,
    /// Custom resources this node offers, e.g. `special=1,tpu=4`
    #[arg(long, value_name = "NAME=AMOUNT,...")]
    pub(super) resources: Option<String>,
    /// Run the node in the foreground until SIGTERM or Ctrl-C (as a systemd unit does),
    /// not in the background
    #[arg(long)]
    pub(super) block: bool,
    /// A worker node that runs your own program (of the cluster's build) with its
    /// arguments, given after `--`: started with RAY_NODE_MODE=worker and RAY_ADDRESS
    #[arg(last = true, value_name = "PROGRAM ARGS")]
    pub(super) program: Vec<String>,
}

#[derive(Args)]
pub(super) struct StatusArgs {
    #[command(flatten)]
    pub(super) cluster: Cluster,
    /// Redraw the status every --interval seconds until interrupted
    #[arg(long)]
    pub(super) watch: bool,
    /// Seconds between two redraws of --watch [default: 2]
    #[arg(long, value_name = "SECONDS", requires = "watch", value_parser = seconds)]
    pub(super) interval: Option<f64>,
}

/// What `ray list` lists.
#[derive(ValueEnum, Clone, Copy)]
pub(super) enum ListKind {
    /// Every node, alive or dead, with its CPUs and tasks
    Nodes,
    /// Actors: live ones, then the last dead ones each node remembers
    Actors,
    /// Recent finished and failed tasks
    Tasks,
    /// Objects in every node's store, largest first
    Objects,
    /// Placement groups, with their bundles
    PlacementGroups,
    /// Drivers and submitted jobs
    Jobs,
}

#[derive(Args)]
pub(super) struct ListArgs {
    /// What to list
    #[arg(value_parser = KindParser::<ListKind>::new("ray list"))]
    pub(super) kind: ListKind,
    #[command(flatten)]
    pub(super) cluster: Cluster,
    #[command(flatten)]
    pub(super) output: Output,
    #[command(flatten)]
    pub(super) filters: Filters,
    /// Only tasks of this function, or actors of this name or class
    #[arg(long)]
    pub(super) name: Option<String>,
}

/// Filters of the lists that take them.
#[derive(Args, Default)]
pub(super) struct Filters {
    /// Only rows in this state (tasks: FINISHED, FAILED; actors: ALIVE, DEAD, ...;
    /// objects: READY, SPILLED, ...)
    #[arg(long)]
    pub(super) state: Option<String>,
    /// At most this many rows (default: 100 for `ray list`, 1000 for `ray memory`)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub(super) limit: Option<u32>,
}

/// What `ray summary` summarizes.
#[derive(ValueEnum, Clone, Copy)]
pub(super) enum SummaryKind {
    /// Task counts by state, and recent tasks by function
    Tasks,
    /// Actors by class, with how many are in each state
    Actors,
    /// Objects and their bytes, by state and by node
    Objects,
}

#[derive(Args)]
pub(super) struct SummaryArgs {
    /// What to summarize
    #[arg(value_parser = KindParser::<SummaryKind>::new("ray summary"))]
    pub(super) kind: SummaryKind,
    #[command(flatten)]
    pub(super) cluster: Cluster,
    #[command(flatten)]
    pub(super) output: Output,
}

#[derive(Args)]
pub(super) struct MemoryArgs {
    #[command(flatten)]
    pub(super) cluster: Cluster,
    #[command(flatten)]
    pub(super) output: Output,
    #[command(flatten)]
    pub(super) filters: Filters,
}

#[derive(Args)]
pub(super) struct LogsArgs {
    #[command(flatten)]
    pub(super) cluster: Cluster,
    /// Whose log (default: the head's)
    #[arg(long, value_name = "NODE_ID")]
    pub(super) node_id: Option<NodeId>,
    /// How many of the last lines to print first (default 200)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub(super) lines: Option<u32>,
    /// Keep printing new lines as the node writes them, until interrupted (Ctrl-C)
    #[arg(long, short, conflicts_with = "format")]
    pub(super) follow: bool,
    #[command(flatten)]
    pub(super) output: Output,
}

#[derive(Args)]
pub(super) struct TimelineArgs {
    #[command(flatten)]
    pub(super) cluster: Cluster,
    /// The file to write
    #[arg(long, short, value_name = "PATH", default_value = "timeline.json")]
    pub(super) output: String,
}

#[derive(Args)]
pub(super) struct KillActorArgs {
    /// The actor, as `ray list actors` shows it (actor-...)
    #[arg(value_name = "ACTOR_ID")]
    pub(super) actor_id: ActorId,
    /// Kill it for good; without this, it is killed as a crash and restarts while its
    /// max_restarts allows
    #[arg(long)]
    pub(super) no_restart: bool,
    #[command(flatten)]
    pub(super) cluster: Cluster,
}

#[derive(Args)]
pub(super) struct CancelArgs {
    /// The task (task-HEX, as `ray list tasks` shows it), or an object it returns
    /// (obj-HEX.INDEX, as `ray list objects` shows it)
    #[arg(value_name = "OBJECT_OR_TASK_ID", value_parser = task_of)]
    pub(super) task: TaskId,
    /// Also end the job worker process it runs in (tasks of submitted jobs only; its
    /// other tasks there are retried)
    #[arg(long)]
    pub(super) force: bool,
    /// Also cancel the tasks it submitted, and theirs (without this, they run on)
    #[arg(long)]
    pub(super) recursive: bool,
    #[command(flatten)]
    pub(super) cluster: Cluster,
}

#[derive(Args)]
pub(super) struct CompletionsArgs {
    /// The shell to complete `ray` in
    pub(super) shell: clap_complete::Shell,
}

/// Exits as clap does on a bad command line (exit status 2), for what clap cannot check
/// itself (an option that may come from the environment instead).
pub(super) fn usage_error(verb: &str, message: &str) -> ! {
    let mut cli = <Cli as clap::CommandFactory>::command();
    // Built, each subcommand knows its full name (`ray start`) for the usage line.
    cli.build();
    let error = match cli.find_subcommand_mut(verb) {
        Some(cmd) => cmd.error(clap::error::ErrorKind::MissingRequiredArgument, message),
        None => cli.error(clap::error::ErrorKind::MissingRequiredArgument, message),
    };
    error.exit()
}

/// `--port`: a port number.
fn port(s: &str) -> Result<u16, String> {
    s.parse()
        .map_err(|_| "--port needs a number from 0 to 65535".to_string())
}

/// A resource amount: a number, 0 or more.
fn amount(s: &str) -> Result<f64, String> {
    s.parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| "needs a number, 0 or more".to_string())
}

/// `--interval`: seconds, more than 0.
fn seconds(s: &str) -> Result<f64, String> {
    s.parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n > 0.0)
        .ok_or_else(|| "--interval needs a number of seconds".to_string())
}

/// A task id (`task-…`), or the task of an object it returns (`obj-….N`: what
/// `ObjectId` displays).
fn task_of(s: &str) -> Result<TaskId, String> {
    if !s.trim().starts_with("obj-") {
        return s.parse().map_err(|e: ray::InvalidId| {
            format!("{e}; or an object id (obj- and hex digits, `.` and its index)")
        });
    }
    let object: ObjectId = s
        .parse()
        .map_err(|_| format!("`{}` is not an object id (obj-HEX.INDEX)", s.trim()))?;
    if object.is_put() {
        return Err(format!(
            "object {object} was put, not returned by a task: there is nothing to cancel"
        ));
    }
    Ok(object.task_id())
}

/// Parses a `ValueEnum` as clap does (its values in help and completions), and ends an
/// error with the verb's usage.
#[derive(Clone)]
pub(super) struct KindParser<E> {
    verb: &'static str,
    kind: PhantomData<fn() -> E>,
}

impl<E> KindParser<E> {
    fn new(verb: &'static str) -> Self {
        Self {
            verb,
            kind: PhantomData,
        }
    }
}

impl<E: ValueEnum + Clone + Send + Sync + 'static> TypedValueParser for KindParser<E> {
    type Value = E;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<E, clap::Error> {
        EnumValueParser::<E>::new()
            .parse_ref(cmd, arg, value)
            .map_err(|mut e| {
                let usage = format!("usage: {} [OPTIONS] <KIND>", self.verb);
                e.insert(
                    ContextKind::Usage,
                    ContextValue::StyledStr(StyledStr::from(usage)),
                );
                e
            })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            E::value_variants()
                .iter()
                .filter_map(ValueEnum::to_possible_value),
        ))
    }
}
