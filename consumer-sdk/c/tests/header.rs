//! `include/slipstream.h` is what cbindgen generates from this crate today.
//! Regenerate it with `SLIPSTREAM_BLESS=1 cargo test -p slipstream-c --test header`.

use std::path::Path;

#[test]
fn header_is_up_to_date() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("read cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let path = dir.join("include/slipstream.h");
    if std::env::var_os("SLIPSTREAM_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write the header");
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{} is not what cbindgen generates from the crate now: regenerate it with \
         `SLIPSTREAM_BLESS=1 cargo test -p slipstream-c --test header` and commit it",
        path.display()
    );
}
