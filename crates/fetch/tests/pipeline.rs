//! The whole pipeline: the real published files from the mirror beside the
//! checkout (`$NARFORMER_DATA/originals`, as in CI) converted into a fresh data
//! directory and compared value by value with the shared CSVs; refusal of corrupt
//! originals; downloads from a local HTTP server.

use fetch::{FetchError, Outcome, Request, SourceFile, Sources};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The shared data directory with its `originals/` mirror, if this machine has it.
fn shared_data() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("NARFORMER_DATA")?);
    if dir.join("originals").is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: NARFORMER_DATA has no originals/ mirror");
        None
    }
}

fn request(data_dir: &Path, only: &[&str], mirror: &Path) -> Request {
    Request {
        data_dir: data_dir.to_path_buf(),
        only: only.iter().map(|s| s.to_string()).collect(),
        sources: Sources {
            mirrors: vec![mirror.to_path_buf()],
            download: false,
            progress: false,
        },
        force: false,
        threads: 2,
    }
}

type Table = (Vec<String>, Vec<BTreeMap<String, String>>);

fn read_table(path: &Path) -> Result<Table, Box<dyn std::error::Error>> {
    let mut reader = csv::Reader::from_path(path)?;
    let header: Vec<String> = reader.headers()?.iter().map(str::to_string).collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record?;
        rows.push(
            header
                .iter()
                .cloned()
                .zip(record.iter().map(str::to_string))
                .collect(),
        );
    }
    Ok((header, rows))
}

/// Asserts that `columns` of two tables agree row by row: text columns exactly,
/// numeric ones as f64 (the same value whatever its spelling).
fn assert_same(ours: &Path, theirs: &Path, columns: &[&str]) -> TestResult {
    let (_, a) = read_table(ours)?;
    let (_, b) = read_table(theirs)?;
    assert_eq!(
        a.len(),
        b.len(),
        "{} vs {}",
        ours.display(),
        theirs.display()
    );
    for (i, (ra, rb)) in a.iter().zip(&b).enumerate() {
        for column in columns {
            let (x, y) = (&ra[*column], &rb[*column]);
            let same =
                x == y || matches!((x.parse::<f64>(), y.parse::<f64>()), (Ok(p), Ok(q)) if p == q);
            assert!(
                same,
                "{} row {i} column {column}: {x} vs {y}",
                ours.display()
            );
        }
    }
    Ok(())
}

#[test]
fn converts_the_mirror_to_the_shared_values_then_does_nothing() -> TestResult {
    let Some(shared) = shared_data() else {
        return Ok(());
    };
    let data = tempfile::tempdir()?;
    let mut log = Vec::new();
    let outcomes = fetch::run(
        &request(data.path(), &[], &shared.join("originals")),
        &mut |l| log.push(l.to_string()),
    )?;
    assert_eq!(outcomes.len(), 4, "{log:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Outcome::Written { .. })),
        "{log:?}"
    );
    assert!(
        log.iter().any(
            |l| l.contains("enumerated 423624 distinct NAS-Bench-101 cells")
                && l.contains("matched all 30001 keys")
        ),
        "{log:?}"
    );

    // NB201: the 200-epoch accuracies exactly, with index, cell and isomorphism key.
    assert_same(
        &data.path().join("nasbench201/accuracy.csv"),
        &shared.join("nasbench201/accuracy.csv"),
        &[
            "arch_idx",
            "arch_str",
            "c10_test_200ep_mean",
            "c100_test_200ep_mean",
            "in16_test_200ep_mean",
            "iso_unique_str",
        ],
    )?;
    // Latency: every one of the 27 columns, and the same header.
    let ours = data.path().join("nasbench201/latency_help.csv");
    let theirs = shared.join("nasbench201/latency_help.csv");
    let (header, _) = read_table(&ours)?;
    assert_eq!(header, read_table(&theirs)?.0);
    assert_eq!(header.len(), 2 + 27);
    let columns: Vec<&str> = header.iter().map(String::as_str).collect();
    assert_same(&ours, &theirs, &columns)?;
    // NB101: all 30,001 rows with the same graph, ops and accuracies.
    let ours = data.path().join("nasbench101/nb101_30k.csv");
    let theirs = shared.join("nasbench101/nb101_30k.csv");
    let (header, rows) = read_table(&ours)?;
    assert_eq!(rows.len(), 30_001);
    let columns: Vec<&str> = header.iter().map(String::as_str).collect();
    assert_same(&ours, &theirs, &columns)?;
    // NNLQP labels are published as they are.
    assert_eq!(
        std::fs::read(data.path().join("nnlqp/gt_stage.txt"))?,
        std::fs::read(shared.join("nnlqp/gt_stage.txt"))?
    );
    // Each dataset has its provenance, and the project's loaders read the files.
    let provenance: serde_json::Value = serde_json::from_slice(&std::fs::read(
        data.path().join("nasbench101/nb101_30k.provenance.json"),
    )?)?;
    assert_eq!(
        provenance["sources"][0]["commit"],
        "7aec0e76fbcd963371799af25f78223069897b58"
    );
    assert_eq!(provenance["licence"], "CC BY 4.0 (NAS-Bench-101 data)");
    assert_eq!(
        datasets::nb201::load(data.path(), datasets::BadRows::Fail)?
            .samples
            .len(),
        15_625
    );
    assert_eq!(
        datasets::nb101::load(data.path(), datasets::BadRows::Fail)?
            .samples
            .len(),
        30_001
    );
    assert_eq!(
        datasets::nb201_latency::load(data.path())?.settings.len(),
        27
    );

    // A second run fetches nothing and says so.
    let before = snapshot(data.path())?;
    let mut log = Vec::new();
    let again = fetch::run(
        &request(data.path(), &[], Path::new("/nonexistent")),
        &mut |l| log.push(l.to_string()),
    )?;
    assert!(
        again
            .iter()
            .all(|o| matches!(o, Outcome::AlreadyPresent { .. }))
    );
    assert!(
        log.last()
            .is_some_and(|l| l.contains("nothing was fetched")),
        "{log:?}"
    );
    assert_eq!(before, snapshot(data.path())?);

    // The shared directory itself counts as present and verified (read-only there).
    let outcomes = fetch::run(
        &request(&shared, &[], Path::new("/nonexistent")),
        &mut |_| {},
    )?;
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Outcome::AlreadyPresent { .. }))
    );
    Ok(())
}

/// Every file under `dir` with its bytes, to show nothing changed.
fn snapshot(dir: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>, std::io::Error> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.clone(), std::fs::read(&path)?);
            }
        }
    }
    Ok(out)
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        let target = to.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            copy_dir(&path, &target)?;
        } else {
            std::fs::copy(&path, &target)?;
        }
    }
    Ok(())
}

#[test]
fn corrupt_or_truncated_originals_are_refused_and_nothing_is_replaced() -> TestResult {
    let Some(shared) = shared_data() else {
        return Ok(());
    };
    let work = tempfile::tempdir()?;
    let mirror = work.path().join("originals");
    copy_dir(&shared.join("originals"), &mirror)?;
    let data = work.path().join("data");
    // An existing dataset file of an unknown version, to be replaced only with --force.
    std::fs::create_dir_all(data.join("nasbench201"))?;
    std::fs::write(
        data.join("nasbench201/latency_help.csv"),
        "arch_idx,arch_str,x_ms\n",
    )?;
    let before = snapshot(&data)?;

    let refused = fetch::run(&request(&data, &["nb201-latency"], &mirror), &mut |_| {});
    assert!(
        matches!(refused, Err(FetchError::UnknownVersion { .. })),
        "{refused:?}"
    );

    // Truncate one of the 27 latency files: refused with its name and both checksums.
    let pt = mirror.join("help_nb201_latency/pixel3.pt");
    let bytes = std::fs::read(&pt)?;
    std::fs::write(&pt, &bytes[..bytes.len() / 2])?;
    let mut forced = request(&data, &["nb201-latency"], &mirror);
    forced.force = true;
    let err = fetch::run(&forced, &mut |_| {}).expect_err("a truncated file must be refused");
    let text = err.to_string();
    assert!(matches!(err, FetchError::Checksum { .. }), "{text}");
    assert!(text.contains("help_nb201_latency/pixel3.pt"), "{text}");
    assert!(
        text.contains("cf1387da12e06b1d4541ce85f3ca4869d551084e09daf4acf024b6e21a80d465"),
        "{text}"
    );
    assert!(
        text.contains(&fetch::sha256_hex(&bytes[..bytes.len() / 2])),
        "{text}"
    );
    assert_eq!(before, snapshot(&data)?, "the data directory changed");

    // Flip one byte of the NB201 source: same refusal, the same untouched directory.
    let csv = mirror.join("nats_bench.csv");
    let mut bytes = std::fs::read(&csv)?;
    bytes[1000] ^= 1;
    std::fs::write(&csv, &bytes)?;
    let err = fetch::run(&request(&data, &["nb201"], &mirror), &mut |_| {})
        .expect_err("a corrupt file must be refused")
        .to_string();
    assert!(
        err.contains("nats_bench.csv")
            && err.contains("cb5d777ec3368be83c8f9b3aa4d520696051cb0eb8d94b8f85b519f9ea4afa3e"),
        "{err}"
    );
    assert_eq!(before, snapshot(&data)?, "the data directory changed");
    Ok(())
}

/// Serves `body` once per connection for `connections` connections on 127.0.0.1.
fn serve(body: Vec<u8>, connections: usize) -> std::io::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    Ok(format!("http://{address}/file.pt"))
}

fn source(url: String, body: &[u8]) -> SourceFile {
    SourceFile {
        path: "help_nb201_latency/test.pt".into(),
        url,
        repository: "https://example.invalid/repo".into(),
        commit: "0".repeat(40),
        sha256: fetch::sha256_hex(body),
        bytes: body.len() as u64,
    }
}

#[test]
fn downloads_verify_and_bad_downloads_are_named() -> TestResult {
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let kept = tempfile::tempdir()?;
    let sources = Sources {
        mirrors: vec![],
        download: true,
        progress: false,
    };
    let file = source(serve(body.clone(), 1)?, &body);
    let got = fetch::obtain::obtain(&file, kept.path(), &sources)?;
    assert_eq!(got.bytes, body);
    assert_eq!(got.origin, fetch::Origin::Download(file.url.clone()));

    // The server sends something else: refused with both checksums.
    let wrong = serve(body[..1000].to_vec(), 1)?;
    let file = source(wrong, &body);
    let err = fetch::obtain::obtain(&file, kept.path(), &sources)
        .expect_err("a wrong download must be refused")
        .to_string();
    assert!(
        err.contains(&fetch::sha256_hex(&body)) && err.contains(&fetch::sha256_hex(&body[..1000])),
        "{err}"
    );

    // Nobody listening: a download error naming the address.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let file = source(format!("http://{closed}/gone.pt"), &body);
    let err = fetch::obtain::obtain(&file, kept.path(), &sources)
        .expect_err("no server")
        .to_string();
    assert!(err.contains(&format!("http://{closed}/gone.pt")), "{err}");

    // Offline with no mirror: says which file and that downloads are off.
    let offline = Sources {
        download: false,
        ..sources
    };
    let err = fetch::obtain::obtain(&file, kept.path(), &offline)
        .expect_err("offline")
        .to_string();
    assert!(
        err.contains("help_nb201_latency/test.pt") && err.contains("--offline"),
        "{err}"
    );
    Ok(())
}
