//! Progress on stderr while a command waits on long work: a bar redrawn in place on a
//! terminal, or one plain line per change when stderr is a file or a pipe (logs, tests).

use std::io::{IsTerminal, Write};
use std::time::Instant;

pub(super) struct Progress {
    what: String,
    total: u64,
    done: u64,
    tty: bool,
    started: Instant,
}

const WIDTH: u64 = 30;

impl Progress {
    /// Starts showing progress of `what` over `total` steps.
    pub(super) fn new(what: &str, total: u64) -> Self {
        let p = Self {
            what: what.to_string(),
            total,
            done: 0,
            tty: std::io::stderr().is_terminal(),
            started: Instant::now(),
        };
        p.draw();
        p
    }

    /// Records that `done` steps are done; redraws when that changed.
    pub(super) fn set(&mut self, done: u64) {
        let done = done.min(self.total);
        if done != self.done {
            self.done = done;
            self.draw();
        }
    }

    fn draw(&self) {
        let filled = (self.done * WIDTH).checked_div(self.total).unwrap_or(WIDTH);
        let bar: String = (0..WIDTH)
            .map(|i| if i < filled { '#' } else { '.' })
            .collect();
        let line = format!(
            "{} [{bar}] {}/{} ({:.1} s)",
            self.what,
            self.done,
            self.total,
            self.started.elapsed().as_secs_f64()
        );
        let mut err = std::io::stderr().lock();
        let _ = if self.tty {
            write!(err, "\r{line}\x1b[K")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    }

    /// Ends the bar with a last line.
    pub(super) fn finish(self, outcome: &str) {
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[K");
        }
        let _ = writeln!(
            err,
            "{}: {outcome} ({:.1} s)",
            self.what,
            self.started.elapsed().as_secs_f64()
        );
    }
}
