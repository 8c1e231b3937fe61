//! The workspace's binaries, and command lines for the tools' usual calls.
//!
//! `cargo test --workspace` builds every binary before it runs any test; a
//! package's own integration tests get its binaries built first as well;
//! [`workspace_bin`] builds one that is missing or older than its sources
//! when a test crate runs alone.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The workspace's target directory for the profile these tests were built in.
///
/// # Panics
///
/// If the test binary is not at `target/<profile>/deps/<binary>`.
pub fn target_dir() -> PathBuf {
    // target/<profile>/deps/<test-binary>: two levels up from the binary.
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>")
        .to_path_buf()
}

/// The workspace's binaries and the packages that build them.
const BINS: [(&str, &str); 7] = [
    ("slipstream", "slipstream-tools"),
    ("slipstream-tail", "slipstream-tools"),
    ("slipstream-sim", "slipstream-tools"),
    ("slipstream-demo", "slipstream-tools"),
    ("slipstream-bridge", "slipstream-bridge"),
    ("slipstream-index", "slipstream-index"),
    ("slipstream-journal", "slipstream-journal-tool"),
];

/// The path of workspace binary `name`, built in the same profile, and built
/// from the sources as they are now.
///
/// `cargo test --workspace` builds every binary before it runs a test, but
/// `cargo test -p slipstream-tests` builds only the tests, and a binary left
/// over from an earlier build would test yesterday's code while the test
/// passed. So when `name` is missing, or older than a source that cargo's
/// dep-info file (`NAME.d` beside it) lists, every workspace binary in that
/// state is built first, in one `cargo build` in this profile: a test that
/// starts one tool and then another does not pay a build between the two.
///
/// # Panics
///
/// If the build fails, if `name` is not one of the workspace's binaries, or
/// if the binary is still missing or older than a source after the build
/// (a build into another target directory): each saying what to run.
pub fn workspace_bin(name: &str) -> PathBuf {
    static BUILDING: Mutex<()> = Mutex::new(());
    let dir = target_dir();
    let p = dir.join(name);
    if stale(&p).is_none() {
        return p;
    }
    let _one_at_a_time = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    let Some(why) = stale(&p) else {
        return p; // another thread built it meanwhile
    };
    if !BINS.iter().any(|(b, _)| *b == name) {
        panic!(
            "{} {why}, and `{name}` is not a binary of this workspace",
            p.display()
        );
    }
    let release = dir.ends_with("release");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["build", "-q"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    if release {
        cargo.arg("--release");
    }
    let mut packages: Vec<&str> = vec![];
    for (bin, package) in BINS {
        if bin == name || stale(&dir.join(bin)).is_some() {
            cargo.args(["--bin", bin]);
            if !packages.contains(&package) {
                packages.push(package);
            }
        }
    }
    for package in &packages {
        cargo.args(["-p", package]);
    }
    let line = format!("{cargo:?}");
    eprintln!("{} {why}: {line}", p.display());
    let status = cargo
        .status()
        .unwrap_or_else(|e| panic!("running {line}: {e}"));
    assert!(
        status.success(),
        "{line} failed ({status}); {} {why}",
        p.display()
    );
    if let Some(still) = stale(&p) {
        panic!(
            "{} {still} after {line} (built into another target directory?): run the tests with `cargo test --workspace`",
            p.display()
        );
    }
    p
}

/// Why binary `p` cannot be run as it is: missing, or older than a source.
fn stale(p: &Path) -> Option<String> {
    if !p.exists() {
        return Some("is not built".to_string());
    }
    newer_source(p).map(|src| format!("is older than {}, which it is built from", src.display()))
}

/// The first source of `bin` that changed (or went away) after `bin` was
/// built, read off cargo's dep-info file beside it (`bin.d`, a make rule:
/// `BIN: SOURCE SOURCE ...`, with spaces in paths escaped as `\ `). `None`
/// if every source is older, or if there is no dep-info file to tell by.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("testkit-newer-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// use std::time::{Duration, SystemTime};
/// let (bin, src) = (dir.join("tool"), dir.join("main.rs"));
/// std::fs::write(&src, "fn main() {}").unwrap();
/// std::fs::write(&bin, "").unwrap();
/// std::fs::write(dir.join("tool.d"), format!("{}: {}\n", bin.display(), src.display())).unwrap();
/// let touch = |p: &std::path::Path, t: SystemTime| {
///     std::fs::File::options().write(true).open(p).unwrap().set_modified(t).unwrap()
/// };
/// let now = SystemTime::now();
/// touch(&src, now - Duration::from_secs(60));
/// touch(&bin, now);
/// assert_eq!(slipstream_testkit::tools::newer_source(&bin), None);
/// touch(&src, now + Duration::from_secs(1));
/// assert_eq!(slipstream_testkit::tools::newer_source(&bin), Some(src));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn newer_source(bin: &Path) -> Option<PathBuf> {
    let built = std::fs::metadata(bin).and_then(|m| m.modified()).ok()?;
    let mut dep_info = bin.as_os_str().to_owned();
    dep_info.push(".d");
    let text = std::fs::read_to_string(dep_info).ok()?;
    let rule = text.lines().next()?;
    let (_, sources) = rule.split_once(": ")?;
    dep_info_paths(sources).into_iter().find(|src| {
        std::fs::metadata(src)
            .and_then(|m| m.modified())
            .map_or(true, |t| t > built)
    })
}

/// The paths of a make rule's prerequisites: split at spaces, except at
/// escaped ones (`\ `).
fn dep_info_paths(sources: &str) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    let mut cur = String::new();
    let mut chars = sources.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&' ') => {
                cur.push(' ');
                chars.next();
            }
            ' ' => {
                if !cur.is_empty() {
                    paths.push(PathBuf::from(std::mem::take(&mut cur)));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        paths.push(PathBuf::from(cur));
    }
    paths
}

/// `slipstream-sim RING ARGS...`
pub fn sim(ring: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(workspace_bin("slipstream-sim"));
    c.arg(ring).args(args);
    c
}

/// `slipstream-tail RING ARGS...`
pub fn tail(ring: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(workspace_bin("slipstream-tail"));
    c.arg(ring).args(args);
    c
}

/// `slipstream stat RING ARGS...`
pub fn stat(ring: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(workspace_bin("slipstream"));
    c.arg("stat").arg(ring).args(args);
    c
}

/// The first of `dirs` (in order) that holds every one of `tools` as a file.
///
/// # Panics
///
/// If none does: names the tools and says how to install them
/// (`bash tests/install-deps.sh`), so that a test that needs them fails
/// rather than passing silently.
pub fn find_system_tool(tools: &[&str], dirs: impl IntoIterator<Item = PathBuf>) -> PathBuf {
    dirs.into_iter()
        .find(|d| tools.iter().all(|t| d.join(t).is_file()))
        .unwrap_or_else(|| {
            panic!(
                "{} not installed (looked on PATH and in the usual places): run `bash tests/install-deps.sh`",
                tools.join(" and ")
            )
        })
}

/// The directories of `PATH`, in order.
pub fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dep_info_paths_split_at_unescaped_spaces_only() {
        assert_eq!(
            dep_info_paths("/a/b.rs /c\\ d/e.rs  /f.rs"),
            [
                PathBuf::from("/a/b.rs"),
                PathBuf::from("/c d/e.rs"),
                PathBuf::from("/f.rs")
            ]
        );
        assert!(dep_info_paths("").is_empty());
    }

    #[test]
    fn no_dep_info_file_tells_nothing() {
        let dir = std::env::temp_dir().join(format!("testkit-nodep-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("tool");
        std::fs::write(&bin, "").unwrap();
        assert_eq!(newer_source(&bin), None);
        // A source that went away counts as changed.
        std::fs::write(
            dir.join("tool.d"),
            format!("{}: {}/gone.rs\n", bin.display(), dir.display()),
        )
        .unwrap();
        assert_eq!(newer_source(&bin), Some(dir.join("gone.rs")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
