//! The golden vectors: the worked examples of `ring/FORMAT.md`, byte for byte.

use crate::fixtures::encode_vec;
use crate::{EventRef, KindSet};

/// The worked examples of `FORMAT.md`: one block at height 1234567 with
/// five events, byte for byte.
fn golden() -> Vec<(&'static str, EventRef<'static>, Vec<u8>)> {
    const H: [u8; 8] = [0x87, 0xd6, 0x12, 0, 0, 0, 0, 0]; // 1234567
    let cat = |parts: &[&[u8]]| parts.concat();
    vec![
        (
            "block_begin",
            EventRef::BlockBegin {
                block_height: 1_234_567,
                event_count: 5,
            },
            cat(&[&H, &[0, 0, 0, 0], &[5, 0, 0, 0]]),
        ),
        (
            "mapping_update",
            EventRef::MappingUpdate {
                block_height: 1_234_567,
                ordinal: 1,
                program_id: b"credits.aleo",
                mapping_name: b"account",
                key: &[0xaa, 0xbb, 0xcc],
                value: &[0x40, 0x42, 0x0f, 0, 0, 0, 0, 0],
            },
            cat(&[
                &H,
                &[1, 0, 0, 0],
                &[12, 0, 0, 0],
                b"credits.aleo",
                &[7, 0, 0, 0],
                b"account",
                &[3, 0, 0, 0],
                &[0xaa, 0xbb, 0xcc],
                &[8, 0, 0, 0],
                &[0x40, 0x42, 0x0f, 0, 0, 0, 0, 0],
            ]),
        ),
        (
            "mapping_removal_some",
            EventRef::MappingRemoval {
                block_height: 1_234_567,
                ordinal: 2,
                program_id: b"credits.aleo",
                mapping_name: b"bonded",
                key: Some(&[0xaa, 0xbb, 0xcc]),
            },
            cat(&[
                &H,
                &[2, 0, 0, 0],
                &[12, 0, 0, 0],
                b"credits.aleo",
                &[6, 0, 0, 0],
                b"bonded",
                &[1],
                &[3, 0, 0, 0],
                &[0xaa, 0xbb, 0xcc],
            ]),
        ),
        (
            "mapping_removal_none",
            EventRef::MappingRemoval {
                block_height: 1_234_567,
                ordinal: 3,
                program_id: b"token.aleo",
                mapping_name: b"balances",
                key: None,
            },
            cat(&[
                &H,
                &[3, 0, 0, 0],
                &[10, 0, 0, 0],
                b"token.aleo",
                &[8, 0, 0, 0],
                b"balances",
                &[0],
            ]),
        ),
        (
            "staking_reward",
            EventRef::StakingReward {
                block_height: 1_234_567,
                ordinal: 4,
                staker: &[0x11, 0x22],
                validator: &[0x33, 0x44, 0x55],
                reward: 1_000_000,
                new_stake: 10_000_000_000,
            },
            cat(&[
                &H,
                &[4, 0, 0, 0],
                &[0x40, 0x42, 0x0f, 0, 0, 0, 0, 0],
                &[0x00, 0xe4, 0x0b, 0x54, 0x02, 0, 0, 0],
                &[2, 0, 0, 0],
                &[0x11, 0x22],
                &[3, 0, 0, 0],
                &[0x33, 0x44, 0x55],
            ]),
        ),
        (
            "block",
            EventRef::Block {
                block_height: 1_234_567,
                ordinal: 5,
                block: &[0xde, 0xad, 0xbe, 0xef],
            },
            cat(&[&H, &[5, 0, 0, 0], &[4, 0, 0, 0], &[0xde, 0xad, 0xbe, 0xef]]),
        ),
        (
            "block_commit",
            EventRef::BlockCommit {
                block_height: 1_234_567,
                event_count: 5,
            },
            cat(&[&H, &[6, 0, 0, 0], &[5, 0, 0, 0]]),
        ),
    ]
}

#[test]
fn golden_vectors() {
    let golden = golden();
    let kinds: KindSet = golden.iter().map(|(_, ev, _)| ev.kind()).collect();
    assert_eq!(kinds, KindSet::all());
    for (name, ev, bytes) in golden {
        assert_eq!(encode_vec(&ev), bytes, "{name}: encoding changed");
        assert_eq!(
            EventRef::decode(ev.kind() as u16, &bytes),
            Ok(ev),
            "{name}: decoding changed"
        );
    }
}

/// Parses the hex of a ```` ```text golden:NAME ```` block: two-digit hex
/// bytes, with `#` starting a comment to the end of the line.
fn parse_hex_block(name: &str, block: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    for line in block.lines() {
        let data = line.split('#').next().unwrap_or_default();
        for token in data.split_whitespace() {
            assert!(
                token.len() == 2,
                "golden:{name}: {token:?} is not a hex byte (line {line:?})"
            );
            let byte = u8::from_str_radix(token, 16);
            bytes.push(
                byte.unwrap_or_else(|_| panic!("golden:{name}: {token:?} is not a hex byte")),
            );
        }
    }
    bytes
}

/// Collects the `golden:NAME` code blocks of a Markdown text.
fn golden_blocks(markdown: &str) -> Vec<(String, Vec<u8>)> {
    let mut blocks = Vec::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line.trim().strip_prefix("```text golden:") else {
            continue;
        };
        let body: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.trim().starts_with("```"))
            .collect();
        blocks.push((
            name.trim().to_owned(),
            parse_hex_block(name, &body.join("\n")),
        ));
    }
    blocks
}

/// The worked examples in `FORMAT.md` are the golden vectors: each one
/// found must match, and each golden vector must be found.
#[test]
fn golden_vectors_match_the_spec() {
    // The spec is ring/FORMAT.md, one folder up from this crate.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mut found = Vec::new();
    for file in ["FORMAT.md"] {
        if let Ok(text) = std::fs::read_to_string(format!("{dir}/{file}")) {
            found.extend(
                golden_blocks(&text)
                    .into_iter()
                    .map(|(name, bytes)| (file, name, bytes)),
            );
        }
    }
    let golden = golden();
    for (file, name, bytes) in &found {
        let Some((_, _, expected)) = golden.iter().find(|(n, _, _)| n == name) else {
            panic!("{file}: golden:{name} is not a golden vector of slipstream-event (ring/event/src/golden.rs)");
        };
        assert_eq!(
            bytes, expected,
            "{file}: golden:{name} differs from slipstream-event's golden vector"
        );
    }
    for (name, _, _) in &golden {
        assert!(
            found.iter().any(|(_, n, _)| n == name),
            "no ```text golden:{name} block in {dir}/FORMAT.md"
        );
    }
}
