//! The run summary: the numbers behind the demo's page (golden), the page itself in headless
//! Chromium (loads with no console message, every chart drawn, a screenshot that is not
//! blank), and what `run` writes beside its manifest.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use backup_audit::pipeline::{Goal, Pipeline};
use backup_audit::sinks::{Delivery, LocalDir};

use super::common::{bin, config, files, golden};

const NOW: &str = "2026-11-24T03:00:00Z";

/// The charts every summary of the demo draws, by SVG id.
const CHARTS: [&str; 6] =
    ["chart-daily", "chart-accounts", "chart-types", "chart-controls", "chart-coverage", "chart-bytes"];

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-estate")
}

/// `backup-audit summary` in-process into `dir/summary.html`.
fn summary(dir: &Path) -> backup_audit::pipeline::Outcome {
    let cfg = config(demo(), NOW);
    Pipeline::new(&cfg, 0)
        .run(&Goal::Summary { key: "summary.html".into() }, &Delivery::to(LocalDir::new(dir)))
        .expect("the demo's summary")
}

#[test]
fn demo_summary_data_matches_golden_file() {
    let out = tempfile::tempdir().unwrap();
    let outcome = summary(out.path());
    let data = serde_json::to_string_pretty(outcome.summary.as_ref().expect("a summary")).unwrap() + "\n";
    let path = golden("summary/demo.json");
    if std::env::var_os("BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &data).unwrap();
    }
    let want = std::fs::read_to_string(&path).expect("tests/golden/summary/demo.json (BLESS=1 writes it)");
    assert!(data == want, "the summary data differs from {} (BLESS=1 rewrites it):\n{data}", path.display());

    // Checks that do not depend on the golden file being right.
    let s = outcome.summary.unwrap();
    let jobs: u64 = s.tiles.jobs.iter().map(|c| c.count).sum();
    let estate_jobs = 42 + 10 + 1; // backup, copy and restore jobs the demo's window reads
    assert_eq!(jobs, estate_jobs, "every window job has one outcome");
    assert_eq!(
        s.days.len(),
        4,
        "the demo holds jobs on 4 days: {:?}",
        s.days.iter().map(|d| &d.date).collect::<Vec<_>>()
    );
    assert!(s.days.iter().filter(|d| d.in_window).count() == 1, "a daily window is one day");
    let window_day = s.days.iter().find(|d| d.in_window).unwrap();
    let finished_in_window: u64 = s.tiles.jobs.iter().filter(|c| c.name != "running").map(|c| c.count).sum();
    assert_eq!(window_day.outcomes.iter().take(5).sum::<u64>() + window_day.outcomes[6], finished_in_window);
    let grid = s.controls.as_ref().expect("the summary evaluates every framework");
    assert_eq!(grid.scopes.len(), 4);
    let failing_cells = grid.rows.iter().flat_map(|r| &r.cells).flatten().filter(|c| c.status == "NON_COMPLIANT");
    for cell in failing_cells {
        assert!(cell.anchor.is_some(), "a failing cell links to its resources");
        assert_eq!(cell.failing.len(), cell.non_compliant.min(backup_audit::summary::SAMPLES_PER_UNIT));
        assert!(cell.failing.iter().all(|f| !f.reason.is_empty()), "every failing resource says why");
    }
    assert!(s.not_collected.is_empty() && s.tiles.not_collected == 0);
}

#[test]
fn summary_page_is_self_contained_and_run_writes_the_same_page_beside_its_manifest() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    summary(a.path());
    let page = std::fs::read_to_string(a.path().join("summary.html")).unwrap();
    assert!(page.len() < 2 * 1024 * 1024, "the demo's page is {} bytes; it must stay under 2 MB", page.len());
    for id in CHARTS {
        assert!(page.contains(&format!("<svg id=\"{id}\"")), "chart {id} is missing");
    }
    // Nothing that loads from elsewhere: no script, no external source, stylesheet or font.
    for banned in ["<script", " src=", "<link", "url(", "@import", "https://"] {
        assert!(!page.contains(banned), "the page contains `{banned}`");
    }
    assert!(page.contains("default-src 'none'"), "the page forbids loading anything");

    let outcome = super::common::run(&config(demo(), NOW), &Delivery::to(LocalDir::new(b.path()))).unwrap();
    let written = files(b.path());
    let key = "summaries/2026/11/24/summary_2026-11-23T00:00:00Z_2026-11-24T00:00:00Z.html";
    assert_eq!(outcome.summaries, vec![b.path().join(key).display().to_string()]);
    assert!(written[key] == page.as_bytes(), "`run` and `summary` give the same page for the demo");
    // Same inputs, same `now`: the same bytes.
    let c = tempfile::tempdir().unwrap();
    summary(c.path());
    assert!(std::fs::read(c.path().join("summary.html")).unwrap() == page.as_bytes());
}

#[test]
fn run_prints_the_short_table_and_lists_objects_only_when_verbose() {
    let out = tempfile::tempdir().unwrap();
    let run = |verbose: bool| {
        let dir = out.path().join(if verbose { "v" } else { "q" });
        let mut cmd = bin();
        cmd.args(["run", "--source"]).arg(demo()).args(["--now", NOW, "--out"]).arg(&dir);
        if verbose {
            cmd.arg("--verbose");
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let quiet = run(false);
    assert!(quiet.contains("framework ") && quiet.contains("controls non-compliant"), "{quiet}");
    assert!(quiet.contains("baseline_backup_controls"), "{quiet}");
    assert!(quiet.contains("4 failed, 0 completed with issues"), "{quiet}");
    assert!(quiet.contains("not collected: nothing"), "{quiet}");
    assert!(quiet.contains("summary   ") && quiet.contains("manifest  "), "{quiet}");
    assert!(!quiet.contains(" rows "), "objects are listed only with --verbose:\n{quiet}");
    let verbose = run(true);
    assert_eq!(verbose.matches(" rows ").count(), 41, "{verbose}");
}

/// Runs headless Chromium on `url` with `args`; returns its standard output and error.
fn chromium(args: &[&str], url: &str) -> (String, String) {
    let exe = std::env::var("BACKUP_AUDIT_TEST_CHROMIUM")
        .expect("BACKUP_AUDIT_TEST_CHROMIUM: the Chromium that scripts/test.sh installs");
    let profile = tempfile::tempdir().unwrap();
    // Output goes to files, not pipes: a page's DOM is larger than a pipe's buffer.
    let (out, err) = (profile.path().join("stdout"), profile.path().join("stderr"));
    let mut child = Command::new(exe)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().join("profile").display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("Chromium starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("Chromium did not finish in 120 s: {}", std::fs::read_to_string(&err).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (std::fs::read(&out).unwrap(), std::fs::read(&err).unwrap());
    assert!(status.success(), "Chromium failed: {}", String::from_utf8_lossy(&stderr));
    (String::from_utf8_lossy(&stdout).into_owned(), String::from_utf8_lossy(&stderr).into_owned())
}

/// The page's console messages in Chromium's log (`INFO:CONSOLE`: errors, CSP violations).
fn console(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

/// Pixels of an RGB or RGBA image (`channels` 3 or 4) within 24 of `rgb` on every colour.
fn pixels_like(pixels: &[u8], channels: usize, rgb: [u8; 3]) -> usize {
    pixels.chunks(channels).filter(|p| (0..3).all(|i| p[i].abs_diff(rgb[i]) <= 24)).count()
}

#[test]
#[ignore = "needs Chromium, which scripts/test.sh installs"]
fn demo_summary_renders_in_headless_chromium() {
    let out = tempfile::tempdir().unwrap();
    summary(out.path());
    let url = format!("file://{}", out.path().join("summary.html").display());

    // The page after load: no console message, every chart present and drawn.
    let (dom, log) = chromium(&["--dump-dom"], &url);
    assert!(console(&log).is_empty(), "console messages: {:?}", console(&log));
    for id in CHARTS {
        let start = dom.find(&format!("<svg id=\"{id}\"")).unwrap_or_else(|| panic!("no chart {id} in the DOM"));
        let svg = &dom[start..start + dom[start..].find("</svg>").expect("a closed svg")];
        assert!(svg.matches("<rect").count() >= 3, "chart {id} draws nothing: {svg}");
        assert!(svg.contains("<title"), "chart {id} has no title");
    }

    // The check above can fail: a page that loads from elsewhere logs a console message.
    let bad = out.path().join("bad.html");
    std::fs::write(
        &bad,
        r#"<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'"></head><body><img src="http://127.0.0.1:9/x.png"></body></html>"#,
    )
    .unwrap();
    let (_, log) = chromium(&["--dump-dom"], &format!("file://{}", bad.display()));
    assert!(!console(&log).is_empty(), "a blocked image must show in the console log:\n{log}");

    // The screenshot: the palette's colours are on it, so the charts were painted.
    let png = out.path().join("summary.png");
    chromium(&["--window-size=1280,2200", &format!("--screenshot={}", png.display())], &url);
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1280, 2200));
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("expected an RGB or RGBA screenshot, got {other:?}"),
    };
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let pixels = &buf[..info.buffer_size()];
    let total = pixels.len() / channels;
    let white = pixels_like(pixels, channels, [255, 255, 255]);
    assert!(white < total * 97 / 100, "the screenshot is blank: {white} of {total} pixels are white");
    let blue = pixels_like(pixels, channels, [0x00, 0x72, 0xB2]);
    assert!(blue > 5_000, "{blue} blue pixels: the completed jobs and compliant cells were not painted");
    let vermillion = pixels_like(pixels, channels, [0xD5, 0x5E, 0x00]);
    assert!(vermillion > 1_000, "{vermillion} vermillion pixels: the failed jobs and failing cells were not painted");
    // The README's picture is this screenshot (BLESS=1 refreshes it).
    if std::env::var_os("BLESS").is_some() {
        std::fs::copy(&png, Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/summary-demo.png")).unwrap();
    }
}

#[test]
fn what_was_not_collected_leads_the_page_and_is_never_counted_as_covered() {
    // The `basic` fixture is partial by design: 555566667777/eu-west-1 holds only a job list.
    let out = tempfile::tempdir().unwrap();
    let cfg = config(super::common::fixture("basic"), "2024-03-02T04:00:00Z");
    let outcome = Pipeline::new(&cfg, 0)
        .run(&Goal::Summary { key: "summary.html".into() }, &Delivery::to(LocalDir::new(out.path())))
        .unwrap();
    let s = outcome.summary.unwrap();
    assert_eq!(s.tiles.not_collected, s.not_collected.len());
    assert!(
        s.not_collected.iter().any(|l| l.contains("555566667777") && l.contains("get-resources not collected")),
        "{:#?}",
        s.not_collected
    );
    assert!(
        s.coverage.unknown.iter().any(|u| u.starts_with("555566667777/eu-west-1: the inventory")),
        "a scope without an inventory is unknown, not covered: {:?}",
        s.coverage.unknown
    );
    let page = std::fs::read_to_string(out.path().join("summary.html")).unwrap();
    let alert = page.find("input(s) were not collected").expect("the not-collected alert");
    assert!(alert < page.find("id=\"headline\"").unwrap(), "what was not collected comes before the tiles");
    assert!(!page.contains("Everything was collected"));
}

#[test]
fn summary_needs_a_file_to_write_not_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    for out in [format!("{}/", dir.path().display()), dir.path().display().to_string()] {
        let o = bin().args(["summary", "--source"]).arg(demo()).args(["--now", NOW, "--out", &out]).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!("--out `{out}`: expected a file name such as summary.html, or `-`")),
            "{stderr}"
        );
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing written");
}
