//! What a stdio child inherits: by default only the SDKs' short list of the
//! gateway's variables, plus the backend's `env`; with `inherit_env = true`,
//! everything.
//!
//! The gateway runs as its own process here, so that the test controls its
//! environment exactly; the child is `sh`, which writes its environment to
//! a file and then becomes the built-in mock server.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// Runs a gateway whose one stdio child dumps its environment, with
/// `extra_backend` added to the backend, and returns that environment.
async fn child_env(tag: &str, extra_backend: &str) -> HashMap<String, String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("stdio-env-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dump = dir.join("env");
    // Written aside and renamed, so that the file is whole once it exists.
    let script = format!("env > {0}.part && mv {0}.part {0} && exec {BIN} mock --stdio", dump.display());
    let config = dir.join("gateway.toml");
    let backend = format!("env = {{ CONFIGURED = \"from-config\" }}\n{extra_backend}");
    std::fs::write(&config, stdio_config("/bin/sh", &["-c", &script], &backend)).unwrap();
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
    let env = [
        ("SWITCHYARD_TEST_SECRET", "must-not-leak"),
        ("HOME", "/home/switchyard-test"),
        ("PATH", path.as_str()),
        // A shell function definition, as the SDKs leave out.
        ("TERM", "() { :; }; echo pwned"),
    ];
    let (mut gateway, _url, mut log) = start_binary_with_env(&config, &[], &env).await;
    let drain = tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });
    let text =
        tokio::time::timeout(DEADLINE, wait_for_file(&dump)).await.expect("the child never wrote its environment");
    let _ = gateway.kill().await;
    drain.abort();
    let _ = std::fs::remove_dir_all(&dir);
    text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

async fn wait_for_file(path: &PathBuf) -> String {
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_child_gets_the_short_list_and_its_env_but_not_the_gateways_secrets() {
    let env = child_env("default", "").await;
    assert_eq!(env.get("SWITCHYARD_TEST_SECRET"), None, "the gateway's environment leaked: {env:?}");
    assert_eq!(env.get("HOME").map(String::as_str), Some("/home/switchyard-test"));
    assert_eq!(env.get("PATH"), std::env::var("PATH").ok().as_ref());
    assert_eq!(env.get("CONFIGURED").map(String::as_str), Some("from-config"));
    assert_eq!(env.get("TERM"), None, "a function definition was inherited");
    // Nothing else from cargo's environment, which the gateway inherited.
    assert!(!env.keys().any(|k| k.starts_with("CARGO")), "{env:?}");
}

#[tokio::test]
async fn inherit_env_passes_the_whole_environment_and_env_on_top() {
    let env = child_env("inherit", "inherit_env = true").await;
    assert_eq!(env.get("SWITCHYARD_TEST_SECRET").map(String::as_str), Some("must-not-leak"));
    assert_eq!(env.get("CONFIGURED").map(String::as_str), Some("from-config"));
    assert_eq!(env.get("HOME").map(String::as_str), Some("/home/switchyard-test"));
    // What the default leaves out is really there to leave out.
    if std::env::vars().any(|(k, _)| k.starts_with("CARGO")) {
        assert!(env.keys().any(|k| k.starts_with("CARGO")), "{env:?}");
    }
}
