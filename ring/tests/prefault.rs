//! A fresh ring is prefaulted at creation (MAP_POPULATE), so the producer's
//! first lap takes no page faults. Counted, not timed: the publishing
//! thread's own minor-fault count (`/proc/thread-self/stat`) across the lap.

mod common;

use common::TempPath;
use slipstream_ring::{Layout, Writer};

/// This thread's minor page faults so far (field 10 of its stat line).
fn minor_faults() -> u64 {
    let stat =
        std::fs::read_to_string("/proc/thread-self/stat").expect("read /proc/thread-self/stat");
    // The command name (field 2) may hold spaces: count from after its ')'.
    let rest = &stat[stat.rfind(')').expect("stat line has a comm") + 2..];
    rest.split(' ')
        .nth(7)
        .expect("stat has minflt")
        .parse()
        .expect("minflt is a number")
}

/// Faults while publishing one lap (plus a bit) of 128-byte records.
fn first_lap_faults(w: &mut Writer) -> (u64, u64) {
    let cap = w.geometry().capacity;
    let payload = [7u8; 128];
    let before = minor_faults();
    while w.tail() < cap + 4096 {
        w.publish(1, &payload).unwrap();
    }
    (minor_faults() - before, cap / 4096)
}

#[test]
fn first_lap_of_a_fresh_file_ring_takes_no_page_faults() {
    let path = TempPath::new("prefault");
    let mut w = Writer::create(path.open(), path.lock(), Layout::new(8 << 20), 1).unwrap();
    let (faults, pages) = first_lap_faults(&mut w);
    // Without prefaulting this is one fault per 4 KiB page (2048 here).
    assert!(
        faults < 32,
        "{faults} minor page faults in the first lap over {pages} pages"
    );
}

#[test]
fn first_lap_of_a_fresh_anonymous_ring_takes_no_page_faults() {
    let mut w = Writer::anonymous(Layout::new(8 << 20)).unwrap();
    let (faults, pages) = first_lap_faults(&mut w);
    assert!(
        faults < 32,
        "{faults} minor page faults in the first lap over {pages} pages"
    );
}
