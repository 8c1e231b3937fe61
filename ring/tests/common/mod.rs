//! Helpers shared by the ring's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The payload length the writer uses for `seq`, below `max`.
pub fn len_for(seq: u64, max: usize) -> usize {
    (seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize % (max + 1)
}

/// Fills `out` with the bytes the payload of `seq` must hold.
pub fn fill(seq: u64, out: &mut [u8]) {
    let mut x = seq.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1;
    for b in out {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
}

/// The payload of `seq`.
pub fn payload(seq: u64, max: usize) -> Vec<u8> {
    let mut v = vec![0; len_for(seq, max)];
    fill(seq, &mut v);
    v
}

/// Panics unless `bytes` is the payload of `seq`.
pub fn check(seq: u64, kind: u16, bytes: &[u8], max: usize) {
    assert_eq!(kind, kind_for(seq), "kind of seq {seq}");
    assert_eq!(bytes.len(), len_for(seq, max), "length of seq {seq}");
    let mut want = vec![0; bytes.len()];
    fill(seq, &mut want);
    assert!(want == bytes, "payload of seq {seq} is corrupt");
}

/// The kind the writer uses for `seq`.
pub fn kind_for(seq: u64) -> u16 {
    1 + (seq % 7) as u16
}

/// A temporary file path that is removed when dropped.
pub struct TempPath(pub PathBuf);

impl TempPath {
    pub fn new(tag: &str) -> Self {
        let dir = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let p = dir.join(format!(
            "slipstream-ring-test-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let _ = std::fs::remove_file(&p);
        TempPath(p)
    }

    pub fn open(&self) -> std::fs::File {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.0)
            .unwrap()
    }
}

impl TempPath {
    /// The ring's lock file (`RING.lock`), opened read-write.
    pub fn lock(&self) -> std::fs::File {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(slipstream_ring::sidecar::lock_path(&self.0))
            .unwrap()
    }

    /// Creates the ring's wake file and readers directory.
    pub fn prepare(&self) {
        slipstream_ring::sidecar::prepare(&self.0, 0o600, None).unwrap();
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        slipstream_ring::sidecar::remove_all(&self.0);
    }
}
