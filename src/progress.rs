//! Progress on stderr for long commands (indicatif): a bar where the size
//! is known, a spinner while a long call runs on the server. Nothing is
//! drawn when stderr is not a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps drawn with `template` (indicatif's syntax).
pub fn bar(len: u64, template: &str) -> ProgressBar {
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(len)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// A spinner with `message`, ticking until it is finished or dropped.
pub fn spinner(message: &str) -> ProgressBar {
    ticking("{spinner} {msg} {elapsed}", message)
}

/// A spinner that counts bytes written through it (`bar.wrap_write(w)`),
/// for output whose size is not known in advance.
pub fn writing(label: &str) -> ProgressBar {
    ticking("{spinner} {msg} {bytes} ({bytes_per_sec}) {elapsed}", label)
}

/// A ticking spinner drawn with `template`, hidden off a terminal.
fn ticking(template: &str, message: &str) -> ProgressBar {
    let s = if std::io::stderr().is_terminal() {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::hidden()
    };
    s.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    s.set_message(message.to_string());
    s.enable_steady_tick(Duration::from_millis(120));
    s
}
