//! `cargo xtask onnx-conformance [DIR]`: ONNX's backend node tests as a
//! shape-inference conformance suite ([`onnx_io::conformance`]), pass/fail per
//! op. Without DIR, the node tests of the pinned `onnx` wheel are fetched with
//! pip once into `target/onnx-node-tests-<version>`.

use crate::{run_command, wheel};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use std::process::Command;

/// The `onnx` release whose node tests are the suite.
pub const ONNX_VERSION: &str = "1.17.0";

#[derive(Debug, Args)]
pub struct ConformanceArgs {
    /// A directory of node tests (`test_*/model.onnx`); default: the pinned wheel's.
    dir: Option<PathBuf>,
    /// Write the per-op report as markdown here.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Print every op's counts, not only the failing ones.
    #[arg(long)]
    all: bool,
    /// Fail when fewer than this percentage of the `ai.onnx` tests pass.
    #[arg(long)]
    min_pass: Option<f64>,
}

/// Extracts `onnx/backend/test/data/node/` from the wheel (argv: wheel
/// directory, output directory) with Python's zipfile.
const EXTRACT_NODE_TESTS: &str = r#"
import pathlib, sys, zipfile
wheels, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
prefix = "onnx/backend/test/data/node/"
count = 0
for wheel in sorted(wheels.glob("onnx-*.whl")):
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            if info.filename.startswith(prefix) and not info.filename.endswith("/"):
                dest = out / info.filename[len(prefix):]
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(z.read(info))
                count += 1
if count == 0:
    sys.exit("no node tests in the wheel")
"#;

impl ConformanceArgs {
    /// The pinned suite, failing under `min_pass` percent (CI's step).
    pub fn gate(min_pass: f64) -> Self {
        Self {
            dir: None,
            markdown: None,
            all: false,
            min_pass: Some(min_pass),
        }
    }
}

pub fn run(args: ConformanceArgs) -> Result<()> {
    let (dir, source) = match args.dir {
        Some(dir) => {
            let source = format!("`{}`", dir.display());
            (dir, source)
        }
        None => (
            node_tests(&run_command)?,
            format!("the backend node tests of the `onnx` {ONNX_VERSION} wheel (PyPI)"),
        ),
    };
    let bar = sysio::progress_bar(
        0,
        "tests",
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
    );
    let suite = onnx_io::conformance::Suite::run(&dir, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })
    .with_context(|| format!("cannot list {}", dir.display()))?;
    bar.finish_and_clear();
    let ops = suite.by_op();
    for op in &ops {
        if args.all || op.passed < op.total {
            println!(
                "{:<24} {:<28} {:>3}/{:<3}",
                op.domain, op.op, op.passed, op.total
            );
        }
    }
    let (passed, total) = suite.default_domain();
    let ai: Vec<_> = ops.iter().filter(|o| o.domain == "ai.onnx").collect();
    let full = ai.iter().filter(|o| o.passed == o.total).count();
    let share = 100.0 * passed as f64 / total.max(1) as f64;
    println!(
        "ai.onnx: {passed} of {total} tests pass ({share:.1}%), {full} of {} ops fully; {} tests \
         in other domains",
        ai.len(),
        suite.tests.len() - total
    );
    if let Some(path) = &args.markdown {
        let md = suite.render_markdown(&source);
        sysio::write_atomic(path, md.as_bytes())?;
        println!("wrote {}", path.display());
    }
    if let Some(min) = args.min_pass
        && share < min
    {
        bail!("{share:.1}% of the ai.onnx node tests pass, below --min-pass {min}");
    }
    Ok(())
}

/// The pinned wheel's node tests, unpacked once under target/.
pub fn node_tests(run: &dyn Fn(Command) -> Result<()>) -> Result<PathBuf> {
    let unpack = wheel::Unpack {
        dir_name: format!("onnx-node-tests-{ONNX_VERSION}"),
        requirements: vec![format!("onnx=={ONNX_VERSION}")],
        script: EXTRACT_NODE_TESTS,
    };
    wheel::unpack_once(&unpack, run, |_| Ok(()))
}
