//! A server's framing: from the manifest, else the cache (keyed by the manifest's content), else
//! a probe; recorded on the activation.json entry. Proved by counting the server's starts.

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::support::{Ws, extra, fixture, manifest, registry, run, server};

const CACHE: &str = ".harnessgym/mcp_framing_cache.json";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_means_a_second_activation_does_not_probe() {
    let ws = Ws::new();
    ws.server(
        "cl",
        "mcp_server.py",
        manifest(
            "cl",
            ".harnessgym/mcp/cl/server.py",
            &["--framing", "content-length", "--count-starts", "cl.txt"],
            json!({"self_test": true}),
        ),
    );
    let reg = registry(&[("mcp", ".harnessgym/mcp/cl/mcp.json")]);

    let report = run(&ws, &reg).await;
    assert_eq!(extra(server(&report, "cl"), "framing"), "content-length");
    assert_eq!(server(&report, "cl").active, Some(true));
    assert_eq!(ws.starts("cl.txt"), 3, "probe (one copy per framing) + smoke");
    let cache: Value = serde_json::from_str(&ws.read(CACHE)).expect("cache is JSON");
    assert_eq!(cache.as_object().expect("map").values().collect::<Vec<_>>(), [&json!("content-length")]);

    let report = run(&ws, &reg).await;
    assert_eq!(extra(server(&report, "cl"), "framing"), "content-length");
    assert_eq!(server(&report, "cl").active, Some(true));
    assert_eq!(ws.starts("cl.txt"), 4, "the second activation only smokes");

    // A changed manifest is a new key: probed again.
    ws.write(
        ".harnessgym/mcp/cl/mcp.json",
        &manifest(
            "cl",
            ".harnessgym/mcp/cl/server.py",
            &["--framing", "content-length", "--count-starts", "cl.txt"],
            json!({"self_test": true, "tool_timeout_sec": 30}),
        )
        .to_string(),
    );
    run(&ws, &reg).await;
    assert_eq!(ws.starts("cl.txt"), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_framing_in_the_manifest_is_never_probed() {
    let ws = Ws::new();
    ws.server(
        "pinned",
        "mcp_server.py",
        manifest(
            "pinned",
            ".harnessgym/mcp/pinned/server.py",
            &["--framing", "content-length", "--count-starts", "p.txt"],
            json!({"self_test": true, "framing": "content-length"}),
        ),
    );
    let report = run(&ws, &registry(&[("mcp", ".harnessgym/mcp/pinned")])).await;
    assert_eq!(extra(server(&report, "pinned"), "framing"), "content-length");
    assert_eq!(server(&report, "pinned").active, Some(true));
    assert_eq!(ws.starts("p.txt"), 1, "smoke only");
    assert!(!ws.path(CACHE).exists(), "nothing to cache");
}

/// The agent rewrites its server from Content-Length to newline JSON behind an unchanged
/// manifest: the cached framing fails, so activation probes again instead of failing the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_framing_that_stopped_working_is_probed_again() {
    let ws = Ws::new();
    let launcher = |framing: &str| {
        format!(
            "import os, sys\nos.execvp(\"python3\", [\"python3\", {:?}, \"--framing\", \"{framing}\", *sys.argv[1:]])\n",
            fixture("mcp_server.py").to_str().expect("utf-8")
        )
    };
    ws.write(".harnessgym/mcp/k/server.py", &launcher("content-length"));
    ws.write(
        ".harnessgym/mcp/k/mcp.json",
        &manifest("k", ".harnessgym/mcp/k/server.py", &[], json!({"self_test": true, "startup_timeout_sec": 3}))
            .to_string(),
    );
    let reg = registry(&[("mcp", ".harnessgym/mcp/k/mcp.json")]);
    let report = run(&ws, &reg).await;
    assert_eq!(extra(server(&report, "k"), "framing"), "content-length");

    ws.write(".harnessgym/mcp/k/server.py", &launcher("ndjson"));
    let report = run(&ws, &reg).await;
    let entry = server(&report, "k");
    assert_eq!(entry.active, Some(true), "{entry:#?}");
    assert_eq!(extra(entry, "framing"), "ndjson");
    let cache: Value = serde_json::from_str(&ws.read(CACHE)).expect("cache");
    assert_eq!(cache.as_object().expect("map").values().collect::<Vec<_>>(), [&json!("ndjson")], "cache updated");
}
