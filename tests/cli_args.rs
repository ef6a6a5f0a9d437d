//! The `ray` command's arguments: `--help` and `--version`, each verb's help and its
//! errors for bad arguments (exit 2, nothing started), and shell completions.
#![cfg(feature = "cli")] // needs the `ray` binary (scripts/test.sh builds every feature)

mod common;

use common::cli::Cli;

/// Every verb the binary has, as `ray VERB --help` takes them.
const VERBS: &[&[&str]] = &[
    &["start"],
    &["stop"],
    &["status"],
    &["list"],
    &["summary"],
    &["memory"],
    &["logs"],
    &["timeline"],
    &["kill-actor"],
    &["cancel"],
    &["job"],
    &["job", "submit"],
    &["job", "list"],
    &["job", "status"],
    &["job", "logs"],
    &["job", "stop"],
    &["completions"],
];

/// `--help` and `--version` exit 0 with the help text; every verb has its own help.
#[test]
fn help_and_version_exit_zero_and_document_every_verb() {
    let cli = Cli::new("help");
    let (ok, out) = cli.run(&["--help"]);
    assert!(ok && out.contains("Usage: ray <COMMAND>"), "{out}");
    for verb in VERBS.iter().filter(|v| v.len() == 1) {
        assert!(
            out.contains(&format!("  {} ", verb[0])),
            "{} missing: {out}",
            verb[0]
        );
    }
    let (ok, out) = cli.run(&["--version"]);
    assert!(ok, "{out}");
    assert_eq!(out.trim(), format!("ray {}", env!("CARGO_PKG_VERSION")));
    for verb in VERBS {
        let mut args = verb.to_vec();
        args.push("--help");
        let (ok, out) = cli.run(&args);
        let usage = format!("Usage: ray {}", verb.join(" "));
        assert!(ok && out.contains(&usage), "{args:?}: {out}");
    }
    // Flags are documented, with the values they take.
    let (_, out) = cli.run(&["list", "--help"]);
    for text in [
        "--address <ADDRESS>",
        "RAY_ADDRESS",
        "--format <FORMAT>",
        "json",
        "placement-groups",
    ] {
        assert!(out.contains(text), "{text}: {out}");
    }
    let (_, out) = cli.run(&["logs", "--help"]);
    assert!(out.contains("-f, --follow"), "{out}");
    let (_, out) = cli.run(&["cancel", "--help"]);
    assert!(
        out.contains("--force") && out.contains("--recursive"),
        "{out}"
    );
    let (_, out) = cli.run(&["kill-actor", "--help"]);
    assert!(out.contains("--no-restart"), "{out}");
}

/// A bad command line is clap's error: exit status 2 and a message that says what is
/// wrong, before anything is started or joined.
#[test]
fn bad_arguments_exit_two_with_a_clear_message() {
    let cli = Cli::new("badargs");
    let cases: &[(&[&str], &str)] = &[
        (&["frobnicate"], "unrecognized subcommand 'frobnicate'"),
        (&["list"], "required arguments were not provided"),
        (&["list", "planets"], "usage: ray list"),
        (
            &["list", "nodes", "--format", "yaml"],
            "[possible values: table, json]",
        ),
        (
            &["list", "nodes", "--frmat", "json"],
            "a similar argument exists: '--format'",
        ),
        (&["list", "tasks", "--limit", "0"], "0 is not in 1..=10000"),
        (&["summary", "planets"], "usage: ray summary"),
        (
            &["summary", "objects", "--format", "xml"],
            "invalid value 'xml'",
        ),
        (&["memory", "--format", "csv"], "invalid value 'csv'"),
        (
            &["logs", "--node-id", "node7"],
            "NodeId (node- and hex digits)",
        ),
        (
            &["logs", "--follow", "--format", "json"],
            "cannot be used with",
        ),
        (&["timeline", "extra"], "unexpected argument 'extra'"),
        (&["status", "--interval", "1"], "--watch"),
        (
            &["status", "--watch", "--interval", "0"],
            "--interval needs a number of seconds",
        ),
        (&["start"], "start needs --head, or --address"),
        (&["start", "--port", "notaport"], "--port needs a number"),
        (
            &["start", "--head", "--num-cpus", "many"],
            "needs a number, 0 or more",
        ),
        (
            &["stop", "--address", "ray://x"],
            "unexpected argument '--address'",
        ),
        (&["kill-actor"], "<ACTOR_ID>"),
        (
            &["kill-actor", "actor-zz"],
            "ActorId (actor- and hex digits)",
        ),
        (
            &["kill-actor", "actor-1", "--restart"],
            "unexpected argument '--restart'",
        ),
        (&["cancel"], "<OBJECT_OR_TASK_ID>"),
        (&["cancel", "nonsense"], "TaskId (task- and hex digits)"),
        (&["cancel", "obj-zz.1"], "is not an object id"),
        (
            &["cancel", "obj-1f.4294967295"],
            "was put, not returned by a task",
        ),
        (&["job"], "Usage: ray job <COMMAND>"),
        (&["job", "submit"], "<PROGRAM ARGS>"),
        (
            &["job", "submit", "--env", "NOEQUALS", "--", "x"],
            "--env takes KEY=VALUE",
        ),
        (&["job", "status"], "<JOB_ID>"),
        (&["job", "stop", "job-xyz"], "JobId (job- and hex digits)"),
        (
            &["job", "logs", "job-1", "--tail"],
            "unexpected argument '--tail'",
        ),
        (&["job", "list", "--format", "yaml"], "invalid value 'yaml'"),
        (
            &["completions", "tcsh"],
            "[possible values: bash, elvish, fish, powershell, zsh]",
        ),
    ];
    for (args, expected) in cases {
        let out = cli
            .command(args)
            .env_remove("RAY_ADDRESS")
            .output()
            .expect("run ray");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {text}");
        assert!(
            text.contains(expected),
            "{args:?}: expected `{expected}` in {text}"
        );
    }
    // Nothing was started, and no state directory was even made.
    assert!(!cli.dir.exists(), "a bad command line wrote state");
}

/// `ray completions SHELL` prints a script that completes every verb.
#[test]
fn completions_name_every_verb() {
    let cli = Cli::new("completions");
    let (ok, bash) = cli.run(&["completions", "bash"]);
    assert!(ok, "{bash}");
    for verb in VERBS.iter().flat_map(|v| v.iter()) {
        assert!(bash.contains(verb), "{verb} missing from the bash script");
    }
    assert!(
        bash.contains("complete ") && bash.contains("--no-restart"),
        "{bash}"
    );
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let (ok, script) = cli.run(&["completions", shell]);
        assert!(ok && script.contains("kill-actor"), "{shell}: {script}");
    }
}
