//! The bodies of the slipstream-ring fuzz targets.
//!
//! One definition, two users: the cargo-fuzz binaries in `fuzz/fuzz_targets/`
//! call these functions with libFuzzer's inputs, and `ring/tests/fuzz_corpus.rs`
//! includes this file (`#[path]`) to replay every committed corpus input and
//! every fixed crash through the very same code in an ordinary `cargo test`.
//! So this file may use only what both can: `std`, `slipstream_ring`,
//! `slipstream_event` and `zerocopy` (dependencies of the fuzz crate and
//! dev-dependencies or dependencies of slipstream-ring).
//!
//! Each function returns quietly whatever the bytes are; it panics (through
//! `assert!`) only when the library breaks a promise: a panic, an
//! out-of-bounds access (the ring's `Region` asserts its bounds), a wrong
//! round trip, or a record the reader delivers that is not in the ring.

use slipstream_event::EventRef;
use slipstream_ring::layout::{
    record_len, split_header_word, validate_header, Geometry, RawHeader, KIND_INVALID,
    KIND_PADDING, NO_RECORD, RECORD_HEADER_LEN, SEGMENT_TABLE_OFFSET,
};
use slipstream_ring::{Item, LapPolicy, Layout, Reader, Start};
use std::fs::File;
use std::os::unix::fs::FileExt;
use zerocopy::{FromBytes, IntoBytes};

/// Reads fixed-size fields from the front of the fuzzer's bytes; past the end
/// it yields zeros, so that every input (even an empty one) is usable.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = self.0.len().min(N);
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }
    fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }
}

// ---------------------------------------------------------------------------
// event_decode
// ---------------------------------------------------------------------------

/// `EventRef::decode(kind, payload)`, the first two bytes (little-endian) being
/// the kind: whatever decodes must re-encode to exactly the same bytes (the
/// format promises one encoding per event).
pub fn event_decode(data: &[u8]) {
    let Some((kind, payload)) = data.split_first_chunk::<2>() else {
        return;
    };
    let kind = u16::from_le_bytes(*kind);
    let Ok(event) = EventRef::decode(kind, payload) else {
        return;
    };
    assert_eq!(u16::from(event.kind()), kind, "decoded kind");
    assert_eq!(
        event.encoded_len(),
        payload.len(),
        "encoded_len of {event:?}"
    );
    let mut out = vec![0u8; payload.len()];
    event.encode(&mut out);
    assert!(out == payload, "{event:?} re-encodes to other bytes");
}

// ---------------------------------------------------------------------------
// header_validate
// ---------------------------------------------------------------------------

/// `validate_header` on 512 arbitrary bytes (zero-padded or truncated); for a
/// header that validates, the geometry must be self-consistent and describe
/// exactly the header's stored fields.
pub fn header_validate(data: &[u8]) {
    let mut bytes = [0u8; SEGMENT_TABLE_OFFSET];
    let n = data.len().min(bytes.len());
    bytes[..n].copy_from_slice(&data[..n]);
    let header = RawHeader::read_from_bytes(&bytes[..]).expect("the buffer is a header's size");
    let Ok(geo) = validate_header(&header) else {
        return;
    };
    check_geometry(&geo);
    // Every fixed field of bytes 0..80 (magic to first_seq) is either checked
    // by validate_header or copied (ring_id, created, first_seq): rebuilding
    // the header from the geometry must give the same bytes.
    let again = geo.new_header(
        header.ring_id.get(),
        header.created_unix_ns.get(),
        header.first_seq.get(),
    );
    assert_eq!(
        &again.as_bytes()[..80],
        &bytes[..80],
        "a header that validates is not the one its geometry describes"
    );
    assert_eq!(
        validate_header(&again),
        Ok(geo),
        "revalidating the rebuilt header"
    );
}

/// The promises of a [`Geometry`]: regions in order, page-aligned, inside the
/// file, and the derived values consistent with the layout.
pub fn check_geometry(g: &Geometry) {
    let l = g.layout;
    let page = u64::from(l.page_size);
    assert!(
        page.is_power_of_two() && (64..=1 << 20).contains(&page),
        "{g:?}"
    );
    assert!(
        g.capacity == l.capacity && g.capacity.is_power_of_two(),
        "{g:?}"
    );
    assert!((64..=1 << 40).contains(&g.capacity), "{g:?}");
    assert_eq!(g.mask, g.capacity - 1, "{g:?}");
    assert!(
        l.max_payload > 0 && g.max_record_len() <= g.capacity / 4,
        "{g:?}"
    );
    assert_eq!(g.max_record_len(), record_len(u64::from(l.max_payload)));
    let segments = g.segments() as u64;
    assert!(
        segments.is_power_of_two() && (4..=1024).contains(&segments),
        "{g:?}"
    );
    assert_eq!(1u64 << g.segment_shift, g.capacity / segments, "{g:?}");
    assert!(1u64 << g.segment_shift >= RECORD_HEADER_LEN as u64, "{g:?}");
    // The segment table lies inside the header region.
    let table_end = g.segment_offset(g.segments() - 1) as u64 + 16;
    assert!(table_end <= g.header_len, "{g:?}");
    // Regions: header, data, each page-aligned, in order, filling the file.
    for v in [g.header_len, g.data_offset] {
        assert_eq!(v % page, 0, "{g:?}");
    }
    assert!(g.header_len >= SEGMENT_TABLE_OFFSET as u64, "{g:?}");
    assert_eq!(g.data_offset, g.header_len, "{g:?}");
    assert_eq!(
        g.data_offset.checked_add(g.capacity),
        Some(g.file_len),
        "{g:?}"
    );
    // Stored as u32 in the header.
    assert!(u32::try_from(g.header_len).is_ok(), "{g:?}");
    assert_eq!(
        l.geometry().as_ref(),
        Ok(g),
        "the layout recomputes another geometry"
    );
}

// ---------------------------------------------------------------------------
// reader_walk
// ---------------------------------------------------------------------------

/// Segment table entries taken from the input; entries past these are zero.
pub const WALK_SEGMENT_ENTRIES: usize = 16;
/// Calls of `try_next` one walk may make. A static ring holds at most
/// `capacity / 16` records, so a reader that yields more items than this is
/// going round in circles.
pub const WALK_STEPS: usize = 10_000;

/// The decoded input of `reader_walk`: a small ring's layout, its counters and
/// segment table, its data region, and the reader's start and resume points.
///
/// Byte layout of the input (all little-endian; missing bytes read as zero):
///
/// | bytes | field |
/// |---|---|
/// | 1 | `shape`: bit 0 capacity (4096/8192); bits 1-3 segments (4 << n, at most 256); bits 4-5 page size (4096, 64, 256, 4096); bit 6 one reader slot; bit 7 lap policy Newest |
/// | 2 | `max_payload`: `1 + v % (capacity / 2 - 16)` |
/// | 1 | `modes`: bit 0 `tail` raw (else `v % (4 * capacity)`), bit 1 `tail_intent` raw (else `tail + v % capacity`), bit 2 `latest` raw (else `tail - v % (capacity / 2)`, or none if `v` is 0) |
/// | 2 | `batch`: 0 for the default batch, `0xFFFF` for `usize::MAX`, else that many bytes |
/// | 8 | `tail_intent` |
/// | 8 | `tail` |
/// | 8 | `latest` |
/// | 8 | `start_seq`, for `Start::Seq` |
/// | 8 + 8 | `resume_seq`, `resume_pos` |
/// | 16 × 16 | segment table entries 0 to 15: `pos`, `seq` |
/// | rest | the data region (zero-padded or truncated to the capacity) |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalkInput {
    /// Layout choices and the lap policy.
    pub shape: u8,
    /// The max_payload choice.
    pub max_payload: u16,
    /// How the counters are read.
    pub modes: u8,
    /// The batch choice.
    pub batch: u16,
    /// `tail_intent`, as given.
    pub tail_intent: u64,
    /// `tail`, as given.
    pub tail: u64,
    /// `latest`, as given.
    pub latest: u64,
    /// The sequence number of `Start::Seq`.
    pub start_seq: u64,
    /// The `next_seq` given to `resume`.
    pub resume_seq: u64,
    /// The `position` given to `resume`.
    pub resume_pos: u64,
    /// Segment table entries `(pos, seq)`.
    pub segments: [(u64, u64); WALK_SEGMENT_ENTRIES],
    /// The data region's bytes.
    pub data: Vec<u8>,
}

/// Bits of [`WalkInput::modes`]: the counter is used as given.
pub const RAW_TAIL: u8 = 1;
/// See [`RAW_TAIL`].
pub const RAW_TAIL_INTENT: u8 = 2;
/// See [`RAW_TAIL`].
pub const RAW_LATEST: u8 = 4;

impl WalkInput {
    /// Decodes the fuzzer's bytes.
    pub fn parse(data: &[u8]) -> WalkInput {
        let mut i = Input(data);
        let mut w = WalkInput {
            shape: i.u8(),
            max_payload: i.u16(),
            modes: i.u8(),
            batch: i.u16(),
            tail_intent: i.u64(),
            tail: i.u64(),
            latest: i.u64(),
            start_seq: i.u64(),
            resume_seq: i.u64(),
            resume_pos: i.u64(),
            segments: [(0, 0); WALK_SEGMENT_ENTRIES],
            data: Vec::new(),
        };
        for e in &mut w.segments {
            *e = (i.u64(), i.u64());
        }
        w.data = i.0.to_vec();
        w
    }

    /// Encodes it back (to write seeds).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![self.shape];
        out.extend_from_slice(&self.max_payload.to_le_bytes());
        out.push(self.modes);
        out.extend_from_slice(&self.batch.to_le_bytes());
        for v in [
            self.tail_intent,
            self.tail,
            self.latest,
            self.start_seq,
            self.resume_seq,
            self.resume_pos,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for (pos, seq) in self.segments {
            out.extend_from_slice(&pos.to_le_bytes());
            out.extend_from_slice(&seq.to_le_bytes());
        }
        out.extend_from_slice(&self.data);
        out
    }

    /// The layout this input chooses (always a valid one).
    pub fn layout(&self) -> Layout {
        let capacity = if self.shape & 1 == 0 { 4096 } else { 8192 };
        let segments = 4u32 << ((self.shape >> 1) & 7).min(6);
        let page_size = [4096, 64, 256, 4096][usize::from((self.shape >> 4) & 3)];
        let max = (capacity / 4 - RECORD_HEADER_LEN as u64) as u32;
        Layout::new(capacity)
            .max_payload(1 + u32::from(self.max_payload) % max)
            .segments(segments)
            .page_size(page_size)
    }

    /// The lap policy this input chooses.
    pub fn lap_policy(&self) -> LapPolicy {
        if self.shape & 0x80 == 0 {
            LapPolicy::Oldest
        } else {
            LapPolicy::Newest
        }
    }

    /// `(tail_intent, tail, latest)` as written to the header.
    pub fn counters(&self) -> (u64, u64, u64) {
        let cap = self.layout().capacity;
        let tail = if self.modes & RAW_TAIL != 0 {
            self.tail
        } else {
            self.tail % (4 * cap)
        };
        let intent = if self.modes & RAW_TAIL_INTENT != 0 {
            self.tail_intent
        } else {
            tail.saturating_add(self.tail_intent % cap)
        };
        let latest = if self.modes & RAW_LATEST != 0 {
            self.latest
        } else if self.latest == 0 {
            NO_RECORD
        } else {
            tail.saturating_sub(self.latest % (cap / 2))
        };
        (intent, tail, latest)
    }

    /// The whole ring file this input describes.
    pub fn image(&self) -> (Geometry, Vec<u8>) {
        let geo = self
            .layout()
            .geometry()
            .expect("the walk chooses valid layouts");
        let mut header = geo.new_header(0x5EED_5EED_5EED_5EED, 0, 1);
        let (intent, tail, latest) = self.counters();
        header.tail_intent = intent.into();
        header.tail = tail.into();
        header.latest = latest.into();
        let mut image = vec![0u8; geo.file_len as usize];
        image[..SEGMENT_TABLE_OFFSET].copy_from_slice(header.as_bytes());
        for (i, (pos, seq)) in self.segments.iter().take(geo.segments()).enumerate() {
            let off = geo.segment_offset(i);
            image[off..off + 8].copy_from_slice(&pos.to_le_bytes());
            image[off + 8..off + 16].copy_from_slice(&seq.to_le_bytes());
        }
        let data = &self.data[..self.data.len().min(geo.capacity as usize)];
        let start = geo.data_offset as usize;
        image[start..start + data.len()].copy_from_slice(data);
        (geo, image)
    }
}

/// A scratch ring file for `reader_walk`, created once per process and
/// rewritten (with `pwrite`) for every input.
///
/// It lives in `/dev/shm` (memory, like a real ring) when that exists, and is
/// unlinked at once: only the open descriptor keeps it, so a crashed fuzzer
/// leaves nothing behind.
pub fn scratch_file() -> File {
    let dir = std::path::Path::new("/dev/shm");
    let dir = if dir.is_dir() {
        dir.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!(
        "slipstream-fuzz-walk-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .expect("create the scratch ring file");
    let _ = std::fs::remove_file(&path);
    file
}

/// Writes the ring the input describes into `file`, attaches a reader at each
/// start position, walks it, resumes it from the input's cursor, and walks
/// again. Errors are fine; a panic, an out-of-bounds access, a walk that does
/// not end, or a delivered record that is not the ring's, are bugs.
pub fn reader_walk(file: &File, data: &[u8]) {
    let input = WalkInput::parse(data);
    let (geo, image) = input.image();
    file.set_len(geo.file_len).expect("size the scratch ring");
    file.write_all_at(&image, 0)
        .expect("write the scratch ring");
    let (intent, tail, _) = input.counters();
    let oracle = Oracle {
        data: &image[geo.data_offset as usize..geo.file_len as usize],
        geo,
        tail,
        intent,
    };
    let starts = [
        Start::Oldest,
        Start::Newest,
        Start::End,
        Start::Seq(input.start_seq),
    ];
    for start in starts {
        let Ok(mut reader) = Reader::attach(file, start) else {
            continue;
        };
        assert_eq!(reader.geometry(), &geo);
        reader.set_lap_policy(input.lap_policy());
        match input.batch {
            0 => {}
            u16::MAX => reader.set_batch_bytes(usize::MAX),
            n => reader.set_batch_bytes(usize::from(n)),
        }
        oracle.walk(&mut reader, None);
        if reader.resume(input.resume_seq, input.resume_pos).is_ok() {
            oracle.walk(&mut reader, Some(input.resume_seq));
        }
        // Its own cursor, saved and resumed (the consumer SDK's restart path).
        let (seq, pos) = (reader.next_seq(), reader.position());
        if reader.resume(seq, pos).is_ok() {
            oracle.walk(&mut reader, Some(seq));
        }
    }
}

/// What the ring holds, to check every item a reader yields against.
struct Oracle<'a> {
    data: &'a [u8],
    geo: Geometry,
    tail: u64,
    intent: u64,
}

impl Oracle<'_> {
    fn word(&self, off: u64) -> u64 {
        let off = off as usize;
        u64::from_le_bytes(self.data[off..off + 8].try_into().unwrap())
    }

    /// Calls `try_next` until the reader has caught up (or failed three
    /// times), checking each item. `resumed` is the `next_seq` given to a
    /// `resume` just before, which a pending lap report starts from.
    fn walk(&self, reader: &mut Reader, mut resumed: Option<u64>) {
        let mut payload = Vec::new();
        let mut errors = 0;
        for _ in 0..WALK_STEPS {
            let (seq_before, pos_before) = (reader.next_seq(), reader.position());
            let item = match reader.try_next() {
                Ok(None) => return,
                Err(_) => {
                    errors += 1;
                    if errors == 3 {
                        return;
                    }
                    continue;
                }
                Ok(Some(Item::Record(rec))) => {
                    payload.clear();
                    payload.extend_from_slice(rec.payload);
                    Ok((rec.seq, rec.kind))
                }
                Ok(Some(Item::Lagged(lag))) => Err(lag),
            };
            let (seq_after, pos_after) = (reader.next_seq(), reader.position());
            assert!(
                pos_after <= self.tail,
                "cursor {pos_after} past tail {}",
                self.tail
            );
            match item {
                Ok((seq, kind)) => {
                    self.check_record(pos_before, pos_after, seq, kind, &payload);
                    assert_eq!(seq, seq_before, "record out of sequence");
                    assert_eq!(Some(seq_after), seq.checked_add(1), "cursor after #{seq}");
                }
                Err(lag) => {
                    // A lap found by the reader starts at its cursor; one found by
                    // `resume` at the sequence number it was asked for.
                    assert!(
                        lag.first_missed == seq_before || Some(lag.first_missed) == resumed,
                        "{lag:?} from cursor {seq_before} (resumed: {resumed:?})"
                    );
                    assert!(lag.first_missed <= lag.last_missed, "{lag:?}");
                    assert!(lag.count() >= 1);
                    assert_eq!(Some(seq_after), lag.last_missed.checked_add(1), "{lag:?}");
                }
            }
            resumed = None;
        }
        panic!("a reader of a ring that does not move yielded {WALK_STEPS} items");
    }

    /// A delivered record must be the committed record at the cursor (after at
    /// most one padding record), inside the retained window, byte for byte.
    fn check_record(&self, before: u64, after: u64, seq: u64, kind: u16, payload: &[u8]) {
        let geo = &self.geo;
        assert!(
            kind != KIND_INVALID && kind != KIND_PADDING,
            "kind {kind} delivered"
        );
        assert!(
            payload.len() <= geo.layout.max_payload as usize,
            "payload too long"
        );
        let rl = record_len(payload.len() as u64);
        let start = after
            .checked_sub(rl)
            .expect("record ends before its length");
        assert!(
            start >= before,
            "record at {start} before the cursor {before}"
        );
        assert_eq!(start % 8, 0, "unaligned record at {start}");
        let off = start & geo.mask;
        assert!(off + rl <= geo.capacity, "record at {start} wraps");
        assert!(
            u128::from(start) + u128::from(geo.capacity) >= u128::from(self.intent),
            "record at {start} was overwritten (tail_intent {})",
            self.intent
        );
        if start != before {
            // Only a padding record may lie between the cursor and the record.
            let (len, pkind, _) = split_header_word(self.word(before & geo.mask));
            assert_eq!(
                pkind, KIND_PADDING,
                "skipped bytes at {before} are not padding"
            );
            assert_eq!(u64::from(len), geo.capacity - (before & geo.mask));
            assert_eq!(
                start,
                before + u64::from(len),
                "padding does not end at the record"
            );
        }
        let (len, rkind, _) = split_header_word(self.word(off));
        assert_eq!(
            (len as usize, rkind),
            (payload.len(), kind),
            "header at {start}"
        );
        assert_eq!(self.word(off + 8), seq, "seq at {start}");
        let body = off as usize + RECORD_HEADER_LEN;
        assert!(
            self.data[body..body + payload.len()] == *payload,
            "payload at {start}"
        );
    }
}
