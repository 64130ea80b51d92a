//! A progress bar on stderr: redrawn in place on a terminal, a plain line every few seconds
//! otherwise (so logs of scripted runs stay readable), nothing when disabled.

use std::cell::{Cell, RefCell};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    what: RefCell<String>,
    total: Cell<u64>,
    done: Cell<u64>,
    enabled: bool,
    tty: bool,
    last: Cell<Option<Instant>>,
    started: Instant,
}

impl Progress {
    pub fn new(what: &str, total: u64, enabled: bool) -> Self {
        Self {
            what: RefCell::new(what.to_owned()),
            total: Cell::new(total),
            done: Cell::new(0),
            enabled,
            tty: std::io::stderr().is_terminal(),
            last: Cell::new(None),
            started: Instant::now(),
        }
    }

    /// Starts a new phase.
    pub fn phase(&self, what: &str, total: u64) {
        self.finish();
        *self.what.borrow_mut() = what.to_owned();
        self.total.set(total);
        self.done.set(0);
        self.last.set(None);
    }

    pub fn add(&self, n: u64) {
        self.set(self.done.get() + n);
    }

    pub fn set(&self, done: u64) {
        self.done.set(done);
        if !self.enabled {
            return;
        }
        let every = if self.tty {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(5)
        };
        let now = Instant::now();
        if self.last.get().is_some_and(|t| now - t < every) && done < self.total.get() {
            return;
        }
        self.last.set(Some(now));
        self.draw();
    }

    fn draw(&self) {
        let (done, total) = (self.done.get(), self.total.get().max(1));
        let width = 30;
        let filled = ((done.min(total) * width) / total) as usize;
        let bar: String = "#".repeat(filled) + &".".repeat(width as usize - filled);
        let line = format!(
            "[{bar}] {} {done}/{total} {:.1}s",
            self.what.borrow(),
            self.started.elapsed().as_secs_f64()
        );
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r{line}\x1b[K");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    /// Ends the current line on a terminal.
    pub fn finish(&self) {
        if self.enabled && self.tty && self.last.get().is_some() {
            self.draw();
            let _ = writeln!(std::io::stderr());
        }
    }
}
