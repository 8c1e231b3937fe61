//! The one place where the SDK's types become Python's: options from Python
//! arguments, items to `Event` / `Lagged` / `ProducerChange` / `Undecodable`,
//! blocks to `Block` / `IncompleteBlock`, and errors to exceptions. When the
//! SDK's API changes, this is the file to adapt.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use slipstream_consumer::{
    BlockItem, ConsumerBuilder, ConsumerError, EventKind, EventRef, KindSet, Missed, OwnedEvent,
    OwnedItem, ProducerChange as SdkProducerChange, Start,
};

pyo3::create_exception!(
    slipstream,
    SlipstreamError,
    pyo3::exceptions::PyException,
    "Any error of the Slipstream consumer."
);
pyo3::create_exception!(
    slipstream,
    RingNotFoundError,
    SlipstreamError,
    "The ring file does not exist."
);
pyo3::create_exception!(
    slipstream,
    NotARingError,
    SlipstreamError,
    "The file is not a usable ring (not a ring, another version, a corrupt header)."
);
pyo3::create_exception!(
    slipstream,
    CursorError,
    SlipstreamError,
    "The named cursor could not be claimed (in use, table full, name too long, read-only ring)."
);
pyo3::create_exception!(
    slipstream,
    NotRetainedError,
    SlipstreamError,
    "The start position (a sequence number or a height) is not in the ring."
);
pyo3::create_exception!(
    slipstream,
    CorruptRingError,
    SlipstreamError,
    "The ring holds data that cannot be valid; reading again reports it again."
);

pyo3::create_exception!(
    slipstream,
    JournalError,
    SlipstreamError,
    "The journal (Consumer(journal=DIR)) could not serve the start position (the message names the oldest sequence number and height it holds), could not be read, or holds bytes that are not valid (the message names the file and offset)."
);

/// The exception for an SDK error.
pub(crate) fn error(e: ConsumerError) -> PyErr {
    let text = e.to_string();
    match e {
        ConsumerError::Open { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            RingNotFoundError::new_err(text)
        }
        ConsumerError::Attach { .. } => NotARingError::new_err(text),
        ConsumerError::Slot { .. } => CursorError::new_err(text),
        ConsumerError::Seek(_) | ConsumerError::StartUnavailable { .. } => {
            NotRetainedError::new_err(text)
        }
        ConsumerError::Read(_) => CorruptRingError::new_err(text),
        ConsumerError::Journal(_) => JournalError::new_err(text),
        _ => SlipstreamError::new_err(text),
    }
}

/// `start`: "oldest", "newest", "end", "height:H", a sequence number as text,
/// or an int (a sequence number).
pub(crate) fn start(value: &Bound<'_, PyAny>) -> PyResult<Start> {
    if let Ok(seq) = value.extract::<u64>() {
        return Ok(Start::Seq(seq));
    }
    let text: String = value.extract().map_err(|_| {
        PyTypeError::new_err("start must be a str (\"oldest\", \"newest\", \"end\", \"height:H\") or an int (a sequence number)")
    })?;
    text.parse::<Start>()
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Kinds from names: an iterable of str, or one comma-separated str.
pub(crate) fn kinds(value: &Bound<'_, PyAny>) -> PyResult<KindSet> {
    let names: Vec<String> = if let Ok(s) = value.cast::<PyString>() {
        s.to_cow()?
            .split(',')
            .map(|k| k.trim().to_string())
            .collect()
    } else {
        value
            .try_iter()?
            .map(|k| k?.extract::<String>())
            .collect::<PyResult<_>>()
            .map_err(|_| PyTypeError::new_err("kinds must be str names or an iterable of them"))?
    };
    let mut set = KindSet::none();
    for name in names {
        let parsed: KindSet = name
            .parse()
            .map_err(|e| PyValueError::new_err(format!("kinds: {e}")))?;
        for k in parsed.iter() {
            set.insert(k);
        }
    }
    Ok(set)
}

/// Names (programs, mappings): an iterable of str or bytes, or one str or bytes.
pub(crate) fn names(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<Vec<u8>>> {
    let one = |v: &Bound<'_, PyAny>| -> PyResult<Vec<u8>> {
        if let Ok(s) = v.cast::<PyString>() {
            return Ok(s.to_cow()?.as_bytes().to_vec());
        }
        if let Ok(b) = v.cast::<PyBytes>() {
            return Ok(b.as_bytes().to_vec());
        }
        Err(PyTypeError::new_err(format!(
            "{what} must be str or bytes, or an iterable of them"
        )))
    };
    if value.cast::<PyString>().is_ok() || value.cast::<PyBytes>().is_ok() {
        return Ok(vec![one(value)?]);
    }
    value.try_iter()?.map(|v| one(&v?)).collect()
}

/// Applies the filters to a builder.
pub(crate) fn filters(
    mut b: ConsumerBuilder,
    kinds_arg: Option<&Bound<'_, PyAny>>,
    programs: Option<&Bound<'_, PyAny>>,
    mappings: Option<&Bound<'_, PyAny>>,
) -> PyResult<ConsumerBuilder> {
    if let Some(k) = kinds_arg {
        b = b.kinds(kinds(k)?);
    }
    if let Some(p) = programs {
        for name in names(p, "programs")? {
            b = b.program(name);
        }
    }
    if let Some(m) = mappings {
        for name in names(m, "mappings")? {
            b = b.mapping(name);
        }
    }
    Ok(b)
}

/// An event of the ring. Attributes that do not apply to its kind are None.
#[pyclass(module = "slipstream", frozen, freelist = 1024)]
pub struct Event {
    inner: OwnedEvent,
}

fn opt_bytes<'py>(py: Python<'py>, b: Option<&[u8]>) -> Option<Bound<'py, PyBytes>> {
    b.map(|b| PyBytes::new(py, b))
}

#[pymethods]
impl Event {
    /// Its sequence number.
    #[getter]
    fn seq(&self) -> u64 {
        self.inner.seq
    }
    /// Its kind: "mapping_update", "mapping_removal", "staking_reward",
    /// "block", "block_begin" or "block_commit".
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind().name()
    }
    /// The height of its block.
    #[getter]
    fn block_height(&self) -> u64 {
        self.inner.event().block_height()
    }
    /// Its position in its block, from 1 (0 for a begin marker).
    #[getter]
    fn ordinal(&self) -> u32 {
        self.inner.event().ordinal()
    }
    /// Mapping events: the program, as the node encodes it.
    #[getter]
    fn program_id<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        opt_bytes(py, self.inner.event().program_id())
    }
    /// Mapping events: the mapping, as the node encodes it.
    #[getter]
    fn mapping_name<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        opt_bytes(py, self.inner.event().mapping_name())
    }
    /// Mapping events: the entry's key (None for the removal of a whole mapping).
    #[getter]
    fn key<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        match self.inner.event() {
            EventRef::MappingUpdate { key, .. } => opt_bytes(py, Some(key)),
            EventRef::MappingRemoval { key, .. } => opt_bytes(py, key),
            _ => None,
        }
    }
    /// Mapping updates: the entry's new value.
    #[getter]
    fn value<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        match self.inner.event() {
            EventRef::MappingUpdate { value, .. } => opt_bytes(py, Some(value)),
            _ => None,
        }
    }
    /// Staking rewards: the staker's address.
    #[getter]
    fn staker<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        match self.inner.event() {
            EventRef::StakingReward { staker, .. } => opt_bytes(py, Some(staker)),
            _ => None,
        }
    }
    /// Staking rewards: the validator's address.
    #[getter]
    fn validator<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        match self.inner.event() {
            EventRef::StakingReward { validator, .. } => opt_bytes(py, Some(validator)),
            _ => None,
        }
    }
    /// Staking rewards: the reward (microcredits).
    #[getter]
    fn reward(&self) -> Option<u64> {
        match self.inner.event() {
            EventRef::StakingReward { reward, .. } => Some(reward),
            _ => None,
        }
    }
    /// Staking rewards: the stake after the reward.
    #[getter]
    fn new_stake(&self) -> Option<u64> {
        match self.inner.event() {
            EventRef::StakingReward { new_stake, .. } => Some(new_stake),
            _ => None,
        }
    }
    /// Block events: the block's bytes.
    #[getter]
    fn block<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        match self.inner.event() {
            EventRef::Block { block, .. } => opt_bytes(py, Some(block)),
            _ => None,
        }
    }
    /// Block markers: the events in the block (None for a begin marker whose
    /// producer did not know the count).
    #[getter]
    fn event_count(&self) -> Option<u32> {
        match self.inner.event() {
            EventRef::BlockBegin { event_count, .. } => {
                (event_count != UNKNOWN_COUNT).then_some(event_count)
            }
            EventRef::BlockCommit { event_count, .. } => Some(event_count),
            _ => None,
        }
    }
    /// The event's encoded payload (FORMAT.md, section 10).
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.payload())
    }
    fn __repr__(&self) -> String {
        let ev = self.inner.event();
        format!(
            "Event(seq={}, kind={:?}, block_height={}, ordinal={})",
            self.inner.seq,
            ev.kind().name(),
            ev.block_height(),
            ev.ordinal()
        )
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Event>()
            .is_ok_and(|o| o.get().inner == self.inner)
    }
}

/// `event_count` of a begin marker whose producer did not know the count (FORMAT.md).
const UNKNOWN_COUNT: u32 = u32::MAX;

/// Events were overwritten before this consumer read them; reading goes on
/// after them. Not an error.
#[pyclass(module = "slipstream", frozen, get_all, eq)]
#[derive(PartialEq)]
pub struct Lagged {
    /// The first sequence number missed.
    first_missed: u64,
    /// The last sequence number missed (inclusive).
    last_missed: u64,
    /// The height of the first block with a missed event (None: unknown).
    first_height: Option<u64>,
    /// The height of the last block with a missed event (None: unknown).
    last_height: Option<u64>,
    /// Whether the first of those blocks was only partly missed.
    first_partial: bool,
    /// Whether the last of those blocks was only partly missed.
    last_partial: bool,
}

#[pymethods]
impl Lagged {
    /// How many events were missed.
    #[getter]
    fn count(&self) -> u64 {
        self.last_missed - self.first_missed + 1
    }
    fn __repr__(&self) -> String {
        format!(
            "Lagged(first_missed={}, last_missed={}, first_height={:?}, last_height={:?}, first_partial={}, last_partial={})",
            self.first_missed,
            self.last_missed,
            self.first_height,
            self.last_height,
            self.first_partial,
            self.last_partial
        )
    }
}

/// The producer died, closed the ring, or was restarted.
#[pyclass(module = "slipstream", frozen, get_all, eq)]
#[derive(PartialEq)]
pub struct ProducerChange {
    /// "died", "closed" or "restarted".
    change: &'static str,
    /// The producer's process id (None for "closed").
    pid: Option<u32>,
    /// The producer's epoch.
    epoch: u64,
}

#[pymethods]
impl ProducerChange {
    fn __repr__(&self) -> String {
        format!(
            "ProducerChange(change={:?}, pid={:?}, epoch={})",
            self.change, self.pid, self.epoch
        )
    }
}

/// An event whose payload does not decode; the consumer has moved past it.
#[pyclass(module = "slipstream", frozen, get_all)]
pub struct Undecodable {
    /// Its sequence number.
    seq: u64,
    /// Its record kind number.
    kind: u16,
    /// Why it does not decode.
    error: String,
}

#[pymethods]
impl Undecodable {
    fn __repr__(&self) -> String {
        format!(
            "Undecodable(seq={}, kind={}, error={:?})",
            self.seq, self.kind, self.error
        )
    }
}

/// The events of one committed block.
#[pyclass(module = "slipstream", frozen, get_all)]
pub struct Block {
    /// The block's height.
    height: u64,
    /// The sequence number of its begin marker.
    begin_seq: u64,
    /// The sequence number of its commit marker.
    commit_seq: u64,
    /// Its events (markers excluded), in order.
    events: Py<pyo3::types::PyList>,
}

#[pymethods]
impl Block {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Block(height={}, begin_seq={}, commit_seq={}, events=<{} events>)",
            self.height,
            self.begin_seq,
            self.commit_seq,
            self.events.bind(py).len()
        )
    }
    fn __len__(&self, py: Python<'_>) -> usize {
        self.events.bind(py).len()
    }
}

/// A block began and did not commit; its events were dropped.
#[pyclass(module = "slipstream", frozen, get_all)]
pub struct IncompleteBlock {
    /// The block's height.
    height: u64,
    /// The sequence number of its begin marker.
    first_seq: u64,
    /// The sequence number of its last record read (its commit marker, or
    /// the record before whatever ended it).
    last_seq: u64,
    /// Why it is incomplete.
    reason: &'static str,
}

#[pymethods]
impl IncompleteBlock {
    fn __repr__(&self) -> String {
        format!(
            "IncompleteBlock(height={}, first_seq={}, last_seq={}, reason={:?})",
            self.height, self.first_seq, self.last_seq, self.reason
        )
    }
}

/// What a read returned, owned, before it becomes a Python object.
pub(crate) enum Got {
    Item(OwnedItem),
    Undecodable { seq: u64, kind: u16, error: String },
}

/// An SDK result as `Got` (a decode error is an item), or the error.
pub(crate) fn got(
    r: Result<Option<slipstream_consumer::Item<'_>>, ConsumerError>,
) -> Result<Option<Got>, ConsumerError> {
    match r {
        Ok(Some(item)) => Ok(Some(Got::Item(OwnedItem::from_item(&item)))),
        Ok(None) => Ok(None),
        Err(ConsumerError::Decode { seq, kind, source }) => Ok(Some(Got::Undecodable {
            seq,
            kind,
            error: source.to_string(),
        })),
        Err(e) => Err(e),
    }
}

fn producer(change: SdkProducerChange) -> ProducerChange {
    match change {
        SdkProducerChange::Died { pid, epoch } => ProducerChange {
            change: "died",
            pid: Some(pid),
            epoch,
        },
        SdkProducerChange::Closed { epoch } => ProducerChange {
            change: "closed",
            pid: None,
            epoch,
        },
        SdkProducerChange::Restarted { pid, epoch } => ProducerChange {
            change: "restarted",
            pid: Some(pid),
            epoch,
        },
    }
}

fn lagged(lag: Missed) -> Lagged {
    Lagged {
        first_missed: lag.first_missed,
        last_missed: lag.last_missed,
        first_height: lag.first_height,
        last_height: lag.last_height,
        first_partial: lag.first_partial,
        last_partial: lag.last_partial,
    }
}

/// The Python object of an item.
pub(crate) fn to_py(py: Python<'_>, g: Got) -> PyResult<Py<PyAny>> {
    Ok(match g {
        Got::Item(OwnedItem::Event(inner)) => Py::new(py, Event { inner })?.into_any(),
        Got::Item(OwnedItem::Lagged(lag)) => Py::new(py, lagged(lag))?.into_any(),
        Got::Item(OwnedItem::Producer(change)) => Py::new(py, producer(change))?.into_any(),
        Got::Undecodable { seq, kind, error } => {
            Py::new(py, Undecodable { seq, kind, error })?.into_any()
        }
    })
}

/// The Python object of a block result.
pub(crate) fn block_to_py(py: Python<'_>, item: BlockItem) -> PyResult<Py<PyAny>> {
    Ok(match item {
        BlockItem::Block(b) => {
            let events = pyo3::types::PyList::empty(py);
            for inner in b.events {
                events.append(Py::new(py, Event { inner })?)?;
            }
            Py::new(
                py,
                Block {
                    height: b.height,
                    begin_seq: b.begin_seq,
                    commit_seq: b.commit_seq,
                    events: events.unbind(),
                },
            )?
            .into_any()
        }
        BlockItem::Lagged(lag) => Py::new(py, lagged(lag))?.into_any(),
        BlockItem::Incomplete {
            height,
            first_seq,
            last_seq,
            reason,
        } => Py::new(
            py,
            IncompleteBlock {
                height,
                first_seq,
                last_seq,
                reason,
            },
        )?
        .into_any(),
        BlockItem::Producer(change) => Py::new(py, producer(change))?.into_any(),
    })
}

/// Adds the classes and exceptions to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Event>()?;
    m.add_class::<Lagged>()?;
    m.add_class::<ProducerChange>()?;
    m.add_class::<Undecodable>()?;
    m.add_class::<Block>()?;
    m.add_class::<IncompleteBlock>()?;
    m.add("SlipstreamError", py.get_type::<SlipstreamError>())?;
    m.add("RingNotFoundError", py.get_type::<RingNotFoundError>())?;
    m.add("NotARingError", py.get_type::<NotARingError>())?;
    m.add("CursorError", py.get_type::<CursorError>())?;
    m.add("NotRetainedError", py.get_type::<NotRetainedError>())?;
    m.add("CorruptRingError", py.get_type::<CorruptRingError>())?;
    m.add("JournalError", py.get_type::<JournalError>())?;
    let kinds: Vec<&str> = EventKind::ALL.iter().map(|k| k.name()).collect();
    m.add("KINDS", kinds)?;
    Ok(())
}
