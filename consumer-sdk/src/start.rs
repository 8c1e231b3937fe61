//! Where a consumer starts: [`Start`], and the words it is read from and shown as.

/// Where a consumer starts (a named consumer with a saved cursor resumes
/// from it instead, unless [`ConsumerBuilder::reset`](crate::ConsumerBuilder::reset) is set).
///
/// ```
/// # let path = std::env::temp_dir().join(format!("doc-start-{}", std::process::id()));
/// # let mut p = slipstream_producer::Producer::open(&path, slipstream_producer::ProducerOptions {
/// #     layout: slipstream_producer::Layout::new(1 << 16), ..Default::default() })?;
/// # p.mapping_update_at(7, b"credits.aleo", b"account", b"k", b"v")?; p.commit_block()?;
/// // The ring holds block 7: begin marker (seq 1), one event, commit marker (seq 3).
/// use slipstream_consumer::{Consumer, Item, Start};
/// let mut c = Consumer::builder(&path).start(Start::Newest).open()?;
/// assert!(matches!(c.try_next()?, Some(Item::Event(ev)) if ev.seq == 3));
/// let mut c = Consumer::builder(&path).start(Start::Height(7)).open()?;
/// assert_eq!(c.next_seq(), 1);
/// let mut c = Consumer::builder(&path).start(Start::End).open()?;
/// assert!(c.try_next()?.is_none());
/// # drop(p); std::fs::remove_file(&path)?; slipstream_ring::sidecar::remove_all(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Start {
    /// The oldest event the ring still holds.
    #[default]
    Oldest,
    /// The newest event already in the ring.
    Newest,
    /// Only events published from now on.
    End,
    /// The event with this sequence number: an error
    /// ([`ConsumerError::StartUnavailable`](crate::ConsumerError::StartUnavailable)) if it is no longer retained; if
    /// it is not written yet, the consumer waits for it (as for a future height).
    Seq(u64),
    /// The begin marker of the first block at or after this height; `Height(0)`
    /// is the oldest block retained. An error
    /// ([`ConsumerError::StartUnavailable`](crate::ConsumerError::StartUnavailable)) if that block's begin marker is
    /// no longer retained; a height not written yet is waited for (blocks
    /// below it are passed over).
    Height(u64),
}

impl std::fmt::Display for Start {
    /// The same words [`FromStr`](std::str::FromStr) reads.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Start::Oldest => write!(f, "oldest"),
            Start::Newest => write!(f, "newest"),
            Start::End => write!(f, "end"),
            Start::Seq(n) => write!(f, "{n}"),
            Start::Height(h) => write!(f, "height:{h}"),
        }
    }
}

/// Text that is not a start position (see [`Start`]'s `FromStr`).
///
/// ```
/// use slipstream_consumer::{ParseStartError, Start};
/// assert_eq!("height:x".parse::<Start>(), Err(ParseStartError::Height("x".into())));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseStartError {
    /// `height:H` where `H` is not a block height.
    #[error("{0:?} is not a block height")]
    Height(String),
    /// Not `oldest`, `newest`, `end`, a sequence number or `height:H`.
    #[error("{0:?} is not oldest, newest, end, a sequence number or height:H")]
    Unknown(String),
}

impl std::str::FromStr for Start {
    type Err = ParseStartError;
    /// `oldest`, `newest` (the newest event, then what follows), `end`, a
    /// sequence number, or `height:H`.
    ///
    /// ```
    /// use slipstream_consumer::Start;
    /// assert_eq!("newest".parse(), Ok(Start::Newest));
    /// assert_eq!("height:7".parse(), Ok(Start::Height(7)));
    /// assert_eq!("42".parse(), Ok(Start::Seq(42)));
    /// assert!("soon".parse::<Start>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, ParseStartError> {
        Ok(match s {
            "oldest" => Start::Oldest,
            "newest" | "latest" => Start::Newest,
            "end" | "now" => Start::End,
            _ => {
                if let Some(h) = s.strip_prefix("height:") {
                    Start::Height(
                        h.parse()
                            .map_err(|_| ParseStartError::Height(h.to_owned()))?,
                    )
                } else {
                    Start::Seq(
                        s.parse()
                            .map_err(|_| ParseStartError::Unknown(s.to_owned()))?,
                    )
                }
            }
        })
    }
}
