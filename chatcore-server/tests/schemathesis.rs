//! schemathesis against the real `chatcore-server`: every check, every phase (examples,
//! coverage, fuzzing, stateful), a fixed seed, at least 5,000 generated requests, and not one
//! failure. The operations that end the session they are called with run apart, each request
//! with a session of its own; the event stream (it never ends) is left out.
//!
//! schemathesis comes from `.ci/run` (a kept virtualenv on `PATH`). Without it the test says
//! so and passes, unless `CI=true`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod contract;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use contract::{Server, missing, on_path, text};

/// Operations that end the session they are called with.
const SESSION_ENDING: [&str; 4] = ["logout", "unregister", "revoke_session", "change_password"];
/// Requests generated for each operation and phase.
const EXAMPLES_PER_OPERATION: &str = "60";
/// The same for the operations that end their session: each of their requests opens a session
/// first (a password hash), so they get fewer.
const EXAMPLES_PER_SESSION_ENDING_OPERATION: &str = "15";
/// The fewest requests the whole run must generate.
const MIN_CASES: u64 = 5_000;

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_nothing() {
    let Some(schemathesis) = on_path("schemathesis").or_else(|| {
        missing(
            "schemathesis",
            "pip install -r clients/python/requirements.txt",
        )
    }) else {
        return;
    };
    let server = Server::start().await;
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis");
    // schemathesis and hypothesis keep caches in the working directory: not in the tree.
    let scratch = tempfile::tempdir().unwrap();
    let base = format!("{}/api/v1", server.base);

    let mut shared = schemathesis_run(
        &schemathesis,
        &here,
        &base,
        "shared",
        EXAMPLES_PER_OPERATION,
    );
    shared.args(["--exclude-operation-id", "subscribe"]);
    for operation in SESSION_ENDING {
        shared.args(["--exclude-operation-id", operation]);
    }
    let shared = report(shared.output().unwrap());

    // With the operations that open sessions, so that stateful testing has links to follow
    // (a session opened by logging in, revoked).
    let mut fresh = schemathesis_run(
        &schemathesis,
        &here,
        &base,
        "fresh",
        EXAMPLES_PER_SESSION_ENDING_OPERATION,
    );
    fresh.current_dir(scratch.path());
    for operation in SESSION_ENDING.iter().chain(&["register", "login"]) {
        fresh.args(["--include-operation-id", operation]);
    }
    let fresh = report(fresh.output().unwrap());

    let cases = shared + fresh;
    eprintln!("schemathesis: {cases} generated requests, no failure");
    assert!(
        cases >= MIN_CASES,
        "only {cases} requests were generated (at least {MIN_CASES} are wanted)"
    );
}

fn schemathesis_run(
    schemathesis: &Path,
    here: &Path,
    base: &str,
    sessions: &str,
    examples: &str,
) -> Command {
    let mut command = Command::new(schemathesis);
    command
        .arg("--config-file")
        .arg(here.join("schemathesis.toml"))
        .arg("run")
        .arg(format!("{base}/openapi.json"))
        .args(["--checks", "all"])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--seed", "42"])
        .args(["--max-examples", examples])
        .args(["--workers", "4"])
        .args(["--no-color", "--output-truncate", "false"])
        .env("SCHEMATHESIS_HOOKS", here.join("hooks.py"))
        .env("CHATCORE_ST_BASE", base)
        .env("CHATCORE_ST_SESSIONS", sessions)
        .stdin(Stdio::null());
    command
}

/// The number of generated requests of a run that passed; a failed run fails the test with
/// schemathesis's report.
fn report(output: Output) -> u64 {
    let report = text(&output);
    assert!(
        output.status.success(),
        "schemathesis failed ({}):\n{report}",
        output.status
    );
    // "Test cases:\n  4565 generated, 0 found 0 unique failures, ..."
    let generated = report
        .lines()
        .find_map(|line| {
            let (count, _) = line.trim().split_once(" generated, ")?;
            count.parse().ok()
        })
        .unwrap_or_else(|| panic!("no count of generated requests in:\n{report}"));
    assert!(!report.contains("Runtime Error"), "{report}");
    generated
}
