//! Events the unit tests share.

use crate::EventRef;

pub(crate) fn encode_vec(ev: &EventRef<'_>) -> Vec<u8> {
    let mut out = vec![0; ev.encoded_len()];
    ev.encode(&mut out);
    out
}

/// One event of every shape: every kind, empty and non-empty strings, both
/// option states, extreme integers.
pub(crate) fn samples() -> Vec<EventRef<'static>> {
    vec![
        EventRef::MappingUpdate {
            block_height: 1,
            ordinal: 1,
            program_id: b"credits.aleo",
            mapping_name: b"account",
            key: &[1, 2, 3],
            value: &[4, 5, 6, 7, 8, 9, 10, 11],
        },
        EventRef::MappingUpdate {
            block_height: 0,
            ordinal: 0,
            program_id: b"",
            mapping_name: b"",
            key: b"",
            value: b"",
        },
        EventRef::MappingRemoval {
            block_height: u64::MAX,
            ordinal: u32::MAX,
            program_id: b"token.aleo",
            mapping_name: b"balances",
            key: Some(&[0xff; 40]),
        },
        EventRef::MappingRemoval {
            block_height: 5,
            ordinal: 2,
            program_id: b"p",
            mapping_name: b"m",
            key: None,
        },
        EventRef::MappingRemoval {
            block_height: 5,
            ordinal: 3,
            program_id: b"",
            mapping_name: b"",
            key: Some(b""),
        },
        EventRef::MappingRemoval {
            block_height: 5,
            ordinal: 4,
            program_id: b"",
            mapping_name: b"",
            key: None,
        },
        EventRef::StakingReward {
            block_height: 77,
            ordinal: 9,
            staker: &[0xaa; 32],
            validator: &[0xbb; 32],
            reward: 123_456,
            new_stake: u64::MAX,
        },
        EventRef::StakingReward {
            block_height: 0,
            ordinal: 1,
            staker: b"",
            validator: b"",
            reward: 0,
            new_stake: 0,
        },
        EventRef::Block {
            block_height: 3,
            ordinal: 1,
            block: &[0x5a; 300],
        },
        EventRef::Block {
            block_height: 3,
            ordinal: 1,
            block: b"",
        },
        EventRef::BlockBegin {
            block_height: 3,
            event_count: 0,
        },
        EventRef::BlockBegin {
            block_height: u64::MAX,
            event_count: u32::MAX,
        },
        EventRef::BlockCommit {
            block_height: 3,
            event_count: 0,
        },
        EventRef::BlockCommit {
            block_height: 3,
            event_count: 1000,
        },
        EventRef::BlockCommit {
            block_height: 3,
            event_count: u32::MAX - 1,
        },
        EventRef::BlockCommit {
            block_height: 3,
            event_count: u32::MAX,
        },
    ]
}
