//! Runs the benchmark binary end to end with tiny counts and checks, from its
//! JSON report, that every transport delivered every message and that every
//! message passed the sequence and content check. Nothing here looks at timings.

use std::process::Command;

#[test]
fn every_message_is_checked_on_every_transport() {
    let json =
        std::env::temp_dir().join(format!("slipstream-bench-e2e-{}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_slipstream-bench"))
        .args([
            "--messages",
            "3000",
            // 1000 is not a multiple of 8 (a short last word) and not a power
            // of two (crossbeam's boxed path).
            "--sizes",
            "64,1000",
            "--reps",
            "2",
            "--latency-samples",
            "200",
            "--interval-us",
            "20",
            "--ring-mib",
            "1",
            "--timeout-s",
            "60",
            "--json",
        ])
        .arg(&json)
        .output()
        .expect("running slipstream-bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "slipstream-bench failed:\n{stderr}");
    let text = std::fs::read_to_string(&json).expect("reading the JSON report");
    let _ = std::fs::remove_file(&json);
    let report: serde_json::Value = serde_json::from_str(&text).expect("parsing the JSON report");

    let tput = report["throughput"].as_array().expect("throughput array");
    assert_eq!(tput.len(), 6 * 2, "six transports, two sizes");
    for r in tput {
        let name = format!("{} {}", r["transport"], r["size"]);
        assert_eq!(
            r["errors"].as_array().map(Vec::len),
            Some(0),
            "{name}: {}",
            r["errors"]
        );
        assert_eq!(r["runs"].as_array().map(Vec::len), Some(2), "{name}: runs");
        let sent = r["sent"].as_u64().unwrap();
        let verified = r["verified"].as_u64().unwrap();
        let lost = r["lost"].as_u64().unwrap();
        assert_eq!(sent, 2 * r["messages"].as_u64().unwrap(), "{name}");
        assert_eq!(
            verified + lost,
            sent,
            "{name}: every message checked or reported lost"
        );
        if r["transport"] != "slipstream" {
            assert_eq!(lost, 0, "{name}: only Slipstream may lose messages");
        }
    }

    let lat = report["latency"].as_array().expect("latency array");
    // uds-buf has no latency rows (same as uds-write), so five transports, two modes.
    assert_eq!(lat.len(), 5 * 2);
    let warmup = report["settings"]["latency_warmup"].as_u64().unwrap();
    for l in lat {
        let name = format!("{} {}", l["transport"], l["mode"]);
        assert!(l["error"].is_null(), "{name}: {}", l["error"]);
        assert_eq!(l["samples"].as_u64(), Some(200), "{name}: samples recorded");
        let verified = l["verified"].as_u64().unwrap();
        let lost = l["lost"].as_u64().unwrap();
        assert_eq!(
            verified + lost,
            200 + warmup,
            "{name}: every message checked"
        );
        assert_eq!(lost, 0, "{name}: nothing lost at this pace");
    }
}
