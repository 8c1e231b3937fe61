//! Runs the benchmark binary end to end with tiny counts and checks, from its
//! JSON report, that every transport delivered every message and that every
//! message passed the sequence and content check (latency cells run twice
//! each), that the memcpy, first-lap and scaling workloads produced their
//! figures and the plot. Nothing here looks at timings.

use std::process::Command;

#[test]
fn every_message_is_checked_on_every_transport() {
    let json =
        std::env::temp_dir().join(format!("slipstream-bench-e2e-{}.json", std::process::id()));
    let png = json.with_extension("png");
    let scaling_json = json.with_extension("scaling.json");
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
            "--latency-reps",
            "2",
            "--workloads",
            "throughput,latency,first-lap,scaling",
            "--scaling-rings",
            "64K,1M",
            "--scaling-consumers",
            "0,2",
            "--scaling-messages",
            "3000",
            "--scaling-reps",
            "1",
            "--interval-us",
            "20",
            "--ring-mib",
            "1",
            "--timeout-s",
            "60",
            "--plot",
        ])
        .arg(&png)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("running slipstream-bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "slipstream-bench failed:\n{stderr}");
    // The run-by-run latency table has the two targets and the floor row
    // (futex is among the transports), each with both runs and a summary.
    let markdown = String::from_utf8_lossy(&out.stdout);
    for row in [
        "busy-poll: Slipstream p50 / iceoryx2 p50, target <= 0.5",
        "busy-poll: Slipstream p50 / raw spin on a shared word p50 (the floor, no target)",
        "sleeping: Slipstream p50 / raw futex wake p50, target <= 1.2",
    ] {
        let lines = markdown
            .lines()
            .filter(|l| l.starts_with(&format!("| {row} |")));
        assert_eq!(
            lines.count(),
            3,
            "two runs and a summary of {row:?} in:\n{markdown}"
        );
    }
    let text = std::fs::read_to_string(&json).expect("reading the JSON report");
    let _ = std::fs::remove_file(&json);
    let plot = std::fs::read(&png).expect("reading the scaling plot");
    let _ = std::fs::remove_file(&png);
    let scaling = std::fs::read_to_string(&scaling_json).expect("reading the scaling JSON");
    let _ = std::fs::remove_file(&scaling_json);
    assert!(plot.starts_with(b"\x89PNG"), "the plot is a PNG");
    let scaling: serde_json::Value =
        serde_json::from_str(&scaling).expect("parsing the scaling JSON");
    let cells = scaling.as_array().expect("scaling cells");
    assert_eq!(cells.len(), 2 * 2, "two rings, two consumer counts");
    for c in cells {
        assert_eq!(c["problems"].as_array().map(Vec::len), Some(0), "{c}");
        let runs = c["runs"].as_array().expect("runs");
        assert_eq!(runs.len(), 1, "{c}");
        let n = c["consumers"].as_u64().unwrap() as usize;
        assert_eq!(
            runs[0]["delivered"].as_array().map(Vec::len),
            Some(n),
            "{c}"
        );
        assert!(runs[0]["publish_ns"].as_f64().unwrap() > 0.0, "{c}");
    }
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
    // uds-buf has no latency rows (same as uds-write); the raw futex cell has
    // only latency rows: six transports, two modes.
    assert_eq!(lat.len(), 6 * 2);
    let warmup = report["settings"]["latency_warmup"].as_u64().unwrap();
    for l in lat {
        let name = format!("{} {}", l["transport"], l["mode"]);
        assert_eq!(
            l["errors"].as_array().map(Vec::len),
            Some(0),
            "{name}: {}",
            l["errors"]
        );
        assert_eq!(
            l["runs"].as_array().map(Vec::len),
            Some(2),
            "{name}: two runs"
        );
        assert_eq!(
            l["samples"].as_u64(),
            Some(2 * 200),
            "{name}: samples recorded"
        );
        let verified = l["verified"].as_u64().unwrap();
        let lost = l["lost"].as_u64().unwrap();
        assert_eq!(
            verified + lost,
            2 * (200 + warmup),
            "{name}: every message checked"
        );
        assert_eq!(lost, 0, "{name}: nothing lost at this pace");
        assert!(l["p50"]["median"].as_f64().unwrap() > 0.0, "{name}: p50");
    }

    let memcpy = report["memcpy"].as_array().expect("memcpy array");
    assert_eq!(memcpy.len(), 2, "4 KiB and 64 KiB spans");
    for m in memcpy {
        assert_eq!(m["streaming"].as_array().map(Vec::len), Some(2), "{m}");
        assert!(m["in_cache_bps"]["median"].as_f64().unwrap() > 0.0, "{m}");
    }
    let lap = &report["first_lap"];
    assert_eq!(lap["errors"].as_array().map(Vec::len), Some(0), "{lap}");
    let first = lap["first"].as_array().expect("first laps");
    assert_eq!(first.len(), 2, "one fresh ring per rep");
    // A 1 MiB ring of 128 B records (144 B with the header): 7281 or so a lap.
    assert!(first[0]["records"].as_u64().unwrap() > 7000, "{lap}");
}
