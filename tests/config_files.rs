//! Every example under `config/` parses, and `switchyard check` reports
//! errors with key and line.

use std::process::Command;

use switchyard::Config;

fn configs() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_config_parses() {
    let files = configs();
    assert!(files.len() >= 3, "{files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        // Only the demo config has a variable without a default.
        let lookup = |v: &str| (v == "SWITCHYARD_DEMO_URL").then(|| "http://127.0.0.1:9/mcp".to_string());
        let config = Config::parse(&text, &path.display().to_string(), &lookup).unwrap_or_else(|e| panic!("{e}"));
        assert!(!config.routes.is_empty(), "{}", path.display());
    }
}

#[test]
fn the_rate_limits_example_has_its_rules_and_store() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/rate-limits.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let config = Config::parse(&text, "rate-limits.toml", &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<_> = config.rate_limits.iter().map(|r| r.name.as_ref().unwrap().get_ref().as_str()).collect();
    assert_eq!(names, ["per-client", "search-tool", "all-replicas"]);
    assert_eq!(config.rate_limits[2].store.as_ref().unwrap().url, "redis://127.0.0.1:6379");
    assert_eq!(config.backends[0].max_in_flight.map(|n| n.get()), Some(64));
}

#[test]
fn the_cached_example_has_a_cache() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/cached.toml");
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let cache = config.backends[0].cache.as_ref().expect("config/cached.toml has no cache");
    assert_eq!(cache.tools, ["lookup"]);
    assert_eq!(cache.methods.len(), 5);
}

fn check(text: &str) -> (bool, String, String) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("check-{}-{}.toml", std::process::id(), text.len()));
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["check", "--config"])
        .arg(&path)
        .env_remove("UNSET_FOR_TEST")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn check_prints_normalized_config_or_every_error() {
    let good = "[[backends]]\nname = \"a\"\ninstances = [{ url = \"http://127.0.0.1:1/mcp\" }]\nheaders = { authorization = \"Bearer hush\" }\n\n[[routes]]\npath = \"/mcp\"\nbackend = \"a\"\n";
    let (ok, stdout, _) = check(good);
    assert!(ok);
    assert!(stdout.contains("listen = \"127.0.0.1:8080\""), "{stdout}");
    assert!(!stdout.contains("hush"), "secret printed: {stdout}");

    let (ok, _, stderr) = check(&good.replace("name = \"a\"", "name = \"a\"\ntimeout = \"fast\""));
    assert!(!ok);
    assert!(stderr.contains("line 3") && stderr.contains("backends[0].timeout") && stderr.contains("fast"), "{stderr}");

    let (ok, _, stderr) = check(&good.replace("http://127.0.0.1:1/mcp", "${UNSET_FOR_TEST}"));
    assert!(!ok);
    assert!(
        stderr.contains("line 3") && stderr.contains("UNSET_FOR_TEST") && stderr.contains("backends.0.instances.0.url"),
        "{stderr}"
    );

    let (ok, _, stderr) = check(&good.replace("backend = \"a\"", "backend = \"b\"\nbakend = 1"));
    assert!(!ok);
    assert!(stderr.contains("line 9") && stderr.contains("bakend"), "{stderr}");
}

#[test]
fn check_refuses_a_stdio_command_that_allowed_commands_does_not_list() {
    let text = "[gateway]\nallowed_commands = [\"npx\"]\n\n[[backends]]\nname = \"kids\"\ntransport = \"stdio\"\n\
                command = \"/usr/bin/npx\"\n\n[[routes]]\npath = \"/mcp\"\nbackend = \"kids\"\n";
    let (ok, _, stderr) = check(text);
    assert!(!ok);
    assert!(
        stderr.contains("line 7") && stderr.contains("backends.0.command") && stderr.contains("/usr/bin/npx"),
        "{stderr}"
    );
    let (ok, _, stderr) = check(&text.replace("/usr/bin/npx", "npx"));
    assert!(ok, "{stderr}");
}

#[test]
fn the_stdio_example_lists_its_commands() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/stdio.toml");
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let allowed = config.gateway.allowed_commands.expect("config/stdio.toml lists allowed_commands");
    assert!(config.backends.iter().all(|b| allowed.iter().any(|c| c == b.program())));
}

#[test]
fn the_canary_example_sets_how_long_a_session_lives() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/canary.toml");
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.gateway.session_ttl.0, std::time::Duration::from_secs(12 * 3600));
}
