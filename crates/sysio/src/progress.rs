//! The progress bar of long work (training epochs, runs, downloads, models).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `len` items of `unit` ("epochs", "runs", "models"), or a hidden
/// one when `show` is false (quiet runs, worker processes, tests).
pub fn progress_bar(len: u64, unit: &str, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let template =
        format!("{{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}} {unit} (ETA {{eta}}) {{msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
