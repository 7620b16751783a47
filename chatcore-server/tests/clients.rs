//! Clients generated from the document that the running `chatcore-server` serves drive the
//! whole flow against it, typed end to end: `clients/python` with `openapi-python-client`,
//! `clients/typescript` with `openapi-typescript` + `openapi-fetch` (type-checked by
//! `tsc --noEmit`, run by node). A generator warning fails the test.
//!
//! The tools come from `.ci/run` (a kept virtualenv on `PATH`; node packages in
//! `CHATCORE_NODE_MODULES`, by default `~/.cache/chatcore-node/node_modules`). Without them
//! each test says so and passes, unless `CI=true`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod contract;

use std::path::PathBuf;
use std::process::Command;

use contract::{Server, copy_files, missing, on_path, run, text, workspace};

#[tokio::test]
async fn python_client_drives_the_flow() {
    let Some(generator) = on_path("openapi-python-client").or_else(|| {
        missing(
            "openapi-python-client",
            "pip install -r clients/python/requirements.txt",
        )
    }) else {
        return;
    };
    // The generated package needs httpx and attrs: the generator's own environment has them.
    let python = generator.with_file_name("python3");
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let document = dir.path().join("openapi.json");
    std::fs::write(&document, server.document().await).unwrap();

    let package = dir.path().join("chatcore_client");
    let generated = run(Command::new(&generator)
        .arg("generate")
        .arg("--path")
        .arg(&document)
        .arg("--output-path")
        .arg(&package)
        .arg("--config")
        .arg(workspace().join("clients/python/config.yaml"))
        .args(["--meta", "none", "--fail-on-warning"])
        .env("PATH", path_with(&generator)));
    let output = text(&generated);
    assert!(
        !output.to_lowercase().contains("warning"),
        "the generator warned:\n{output}"
    );

    let flow = workspace().join("clients/python/flow.py");
    let ran = run(Command::new(&python)
        .arg(&flow)
        .arg(format!("{}/api/v1", server.base))
        .env("PYTHONPATH", dir.path())
        .env("PYTHONDONTWRITEBYTECODE", "1"));
    let output = text(&ran);
    assert!(output.contains("flow passed"), "{output}");
}

#[tokio::test]
async fn typescript_client_drives_the_flow() {
    let Some(modules) = node_modules() else {
        return;
    };
    let Some(node) = on_path("node").or_else(|| missing("node", "install node 20")) else {
        return;
    };
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    copy_files(&workspace().join("clients/typescript"), dir.path());
    std::os::unix::fs::symlink(&modules, dir.path().join("node_modules")).unwrap();
    let document = dir.path().join("openapi.json");
    std::fs::write(&document, server.document().await).unwrap();

    // The generator script fails on any warning the generator prints.
    let generated = run(Command::new(&node).current_dir(dir.path()).args([
        "generate.mjs",
        "openapi.json",
        "schema.d.ts",
    ]));
    let output = text(&generated);
    assert!(
        !output.to_lowercase().contains("warn"),
        "the generator warned:\n{output}"
    );
    let tsc = modules.join("typescript/bin/tsc");
    run(Command::new(&node)
        .current_dir(dir.path())
        .arg(&tsc)
        .args(["--noEmit", "-p", "."]));
    run(Command::new(&node)
        .current_dir(dir.path())
        .arg("transpile.mjs"));
    let ran = run(Command::new(&node)
        .current_dir(dir.path())
        .arg("build/flow.js")
        .arg(format!("{}/api/v1", server.base)));
    let output = text(&ran);
    assert!(output.contains("flow passed"), "{output}");
}

/// The node packages of `clients/typescript/package.json`, installed.
fn node_modules() -> Option<PathBuf> {
    let modules = std::env::var_os("CHATCORE_NODE_MODULES")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|home| PathBuf::from(home).join(".cache/chatcore-node/node_modules"))
        })?;
    let complete = [
        "openapi-typescript",
        "openapi-fetch",
        "typescript",
        "@types/node",
    ]
    .iter()
    .all(|package| modules.join(package).join("package.json").is_file());
    if complete {
        Some(modules)
    } else {
        missing(
            "the TypeScript client's node packages",
            "npm ci in clients/typescript, or .ci/run (see clients/README.md)",
        )
    }
}

/// `PATH` with the generator's directory first, so that it finds its formatter (ruff).
fn path_with(tool: &std::path::Path) -> std::ffi::OsString {
    let mut paths = vec![tool.parent().unwrap().to_owned()];
    if let Some(path) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(paths).unwrap()
}
