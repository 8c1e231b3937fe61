//! # slipstream-python
//!
//! The native part (`slipstream._slipstream`) of the Python package
//! `slipstream`: the Rust consumer SDK behind a Pythonic `Consumer`. The
//! package's Python half (`python/slipstream/__init__.py`) adds `async for`.
//!
//! Blocking calls release the GIL while they wait (`Python::detach`); a read
//! that finds an item ready keeps it (a GIL round trip costs more than the read).

mod map;

use std::os::fd::AsRawFd;
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use slipstream_consumer::{Consumer as SdkConsumer, ConsumerError, LapPolicy};
use slipstream_readiness::Readiness;

use map::Got;

/// How long one wait lasts before Python's signals (Ctrl-C) are looked at.
const SLICE: Duration = Duration::from_millis(200);

struct State {
    consumer: SdkConsumer,
    readiness: Option<Readiness>,
}

/// A consumer of a Slipstream ring.
///
/// `Consumer(ring, name=None, start="newest", kinds=None, programs=None,
/// mappings=None, reset=False, auto_commit=True, on_lag="oldest", wait=0.0)`
#[pyclass(module = "slipstream._slipstream", subclass)]
pub struct Consumer {
    state: Mutex<Option<State>>,
}

impl Consumer {
    fn lock(&self) -> PyResult<MutexGuard<'_, Option<State>>> {
        match self.state.try_lock() {
            Ok(g) => Ok(g),
            Err(TryLockError::Poisoned(p)) => Ok(p.into_inner()),
            Err(TryLockError::WouldBlock) => Err(PyRuntimeError::new_err(
                "this Consumer is in use by another thread (use one Consumer per thread)",
            )),
        }
    }
}

fn closed() -> PyErr {
    PyValueError::new_err("the Consumer is closed")
}

/// Reads one item: at once if one is ready, else waiting up to `timeout`
/// (None: until one comes) with the GIL released, in slices so that Ctrl-C works.
fn read_one(py: Python<'_>, st: &mut State, timeout: Option<Duration>) -> PyResult<Option<Got>> {
    if let Some(g) = map::got(st.consumer.try_next()).map_err(map::error)? {
        return Ok(Some(g));
    }
    if timeout == Some(Duration::ZERO) {
        // No wait: keep the GIL (`next` only checks the producer's liveness).
        let got = map::got(st.consumer.next(Duration::ZERO)).map_err(map::error)?;
        if got.is_none() {
            if let Some(r) = &st.readiness {
                r.arm(st.consumer.next_seq());
            }
        }
        return Ok(got);
    }
    wait_in_slices(py, st, timeout, |c, slice| map::got(c.next(slice)))
}

/// Calls `step` with the GIL released, in slices of at most [`SLICE`] so that
/// Ctrl-C is seen, until it returns something or `timeout` (None: never)
/// passes; an idle return re-arms the readiness fd.
fn wait_in_slices<T: Send>(
    py: Python<'_>,
    st: &mut State,
    timeout: Option<Duration>,
    mut step: impl FnMut(&mut SdkConsumer, Duration) -> Result<Option<T>, ConsumerError> + Send,
) -> PyResult<Option<T>> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let slice = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
            None => SLICE,
        };
        let consumer = &mut st.consumer;
        let got = py.detach(|| step(consumer, slice)).map_err(map::error)?;
        if got.is_some() {
            return Ok(got);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            if let Some(r) = &st.readiness {
                r.arm(st.consumer.next_seq());
            }
            return Ok(None);
        }
        py.check_signals()?;
    }
}

fn timeout_arg(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    timeout
        .map(|t| {
            Duration::try_from_secs_f64(t).map_err(|_| {
                PyValueError::new_err(format!("timeout must be a number of seconds >= 0, not {t}"))
            })
        })
        .transpose()
}

#[pymethods]
impl Consumer {
    #[new]
    #[pyo3(signature = (ring, name=None, start=None, kinds=None, programs=None, mappings=None, reset=false, auto_commit=true, on_lag="oldest", wait=0.0, journal=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        ring: std::path::PathBuf,
        name: Option<String>,
        start: Option<&Bound<'_, PyAny>>,
        kinds: Option<&Bound<'_, PyAny>>,
        programs: Option<&Bound<'_, PyAny>>,
        mappings: Option<&Bound<'_, PyAny>>,
        reset: bool,
        auto_commit: bool,
        on_lag: &str,
        wait: f64,
        journal: Option<std::path::PathBuf>,
    ) -> PyResult<Self> {
        let start = match start {
            None => slipstream_consumer::Start::Newest,
            Some(s) => map::start(s)?,
        };
        let lap = match on_lag {
            "oldest" => LapPolicy::Oldest,
            "newest" => LapPolicy::Newest,
            other => {
                return Err(PyValueError::new_err(format!(
                    "on_lag must be \"oldest\" or \"newest\", not {other:?}"
                )))
            }
        };
        let wait = timeout_arg(Some(wait))?.unwrap_or_default();
        let mut b = SdkConsumer::builder(&ring)
            .start(start)
            .reset(reset)
            .auto_commit(auto_commit)
            .lap_policy(lap)
            .wait_for_ring(wait);
        if let Some(n) = name {
            b = b.name(n);
        }
        if let Some(dir) = journal {
            b = b.journal(dir);
        }
        let b = map::filters(b, kinds, programs, mappings)?;
        let consumer = py.detach(|| b.open()).map_err(map::error)?;
        Ok(Consumer {
            state: Mutex::new(Some(State {
                consumer,
                readiness: None,
            })),
        })
    }

    /// The next item (Event, Lagged, ProducerChange or Undecodable), waiting
    /// up to `timeout` seconds (None: until one comes); None if none came.
    #[pyo3(signature = (timeout=None))]
    fn next(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Py<PyAny>>> {
        let timeout = timeout_arg(timeout)?;
        let mut guard = self.lock()?;
        let st = guard.as_mut().ok_or_else(closed)?;
        read_one(py, st, timeout)?
            .map(|g| map::to_py(py, g))
            .transpose()
    }

    /// Up to `max` items: those ready now, after waiting up to `timeout`
    /// seconds (None: until one comes; default 0) for the first. An empty
    /// list if none came. One call for many events: the fast way to read.
    #[pyo3(signature = (max=1024, timeout=Some(0.0)))]
    fn next_batch<'py>(
        &self,
        py: Python<'py>,
        max: usize,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let timeout = timeout_arg(timeout)?;
        let mut guard = self.lock()?;
        let st = guard.as_mut().ok_or_else(closed)?;
        let out = PyList::empty(py);
        if max == 0 {
            return Ok(out);
        }
        match read_one(py, st, timeout)? {
            None => return Ok(out),
            Some(g) => out.append(map::to_py(py, g)?)?,
        }
        while out.len() < max {
            match map::got(st.consumer.try_next()).map_err(map::error)? {
                Some(g) => out.append(map::to_py(py, g)?)?,
                None => break,
            }
        }
        Ok(out)
    }

    /// The next complete block (Block), or Lagged, IncompleteBlock or
    /// ProducerChange, waiting up to `timeout` seconds (None: until one
    /// comes); None if none came.
    #[pyo3(signature = (timeout=None))]
    fn next_block(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Py<PyAny>>> {
        let timeout = timeout_arg(timeout)?;
        let mut guard = self.lock()?;
        let st = guard.as_mut().ok_or_else(closed)?;
        wait_in_slices(py, st, timeout, |c, slice| c.next_block(slice))?
            .map(|item| map::block_to_py(py, item))
            .transpose()
    }

    /// Stores a named consumer's cursor: everything returned so far counts as
    /// processed. Automatic before each read unless auto_commit=False.
    fn commit(&self) -> PyResult<()> {
        let mut guard = self.lock()?;
        guard.as_mut().ok_or_else(closed)?.consumer.commit();
        Ok(())
    }

    /// A file descriptor for select/poll/asyncio: readable when the consumer
    /// may have an item. When it is, read with timeout 0 until nothing comes
    /// (which re-arms it). Level-triggered, possibly spurious. Owned by the
    /// Consumer: do not read or close it.
    fn fileno(&self) -> PyResult<i32> {
        let mut guard = self.lock()?;
        let st = guard.as_mut().ok_or_else(closed)?;
        if st.readiness.is_none() {
            let r = Readiness::new(&st.consumer)
                .map_err(|e| map::SlipstreamError::new_err(format!("readiness fd: {e}")))?;
            r.arm(st.consumer.next_seq());
            st.readiness = Some(r);
        }
        Ok(st.readiness.as_ref().map_or(-1, |r| r.fd().as_raw_fd()))
    }

    /// The sequence number of the next event this consumer will receive.
    #[getter]
    fn next_seq(&self) -> PyResult<u64> {
        let guard = self.lock()?;
        Ok(guard.as_ref().ok_or_else(closed)?.consumer.next_seq())
    }

    /// The ring's path.
    #[getter]
    fn path(&self) -> PyResult<std::path::PathBuf> {
        let guard = self.lock()?;
        Ok(guard
            .as_ref()
            .ok_or_else(closed)?
            .consumer
            .path()
            .to_path_buf())
    }

    /// The cursor's name, if the consumer has one.
    #[getter]
    fn name(&self) -> PyResult<Option<String>> {
        let guard = self.lock()?;
        Ok(guard
            .as_ref()
            .ok_or_else(closed)?
            .consumer
            .name()
            .map(str::to_string))
    }

    /// Whether close() was called.
    #[getter]
    fn closed(&self) -> PyResult<bool> {
        Ok(self.lock()?.is_none())
    }

    /// Closes the consumer: stores a named cursor (with auto_commit), releases
    /// it, stops the fileno() thread. Calling it again does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let state = self.lock()?.take();
        py.detach(|| drop(state));
        Ok(())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Waits for the next item; a closed consumer ends the iteration.
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let mut guard = self.lock()?;
        let Some(st) = guard.as_mut() else {
            return Ok(None);
        };
        read_one(py, st, None)?
            .map(|g| map::to_py(py, g))
            .transpose()
    }

    fn __repr__(&self) -> String {
        match self.state.try_lock().as_deref() {
            Ok(Some(st)) => format!(
                "Consumer(ring={:?}, name={:?}, next_seq={})",
                st.consumer.path(),
                st.consumer.name(),
                st.consumer.next_seq()
            ),
            Ok(None) => "Consumer(closed)".into(),
            Err(_) => "Consumer(in use)".into(),
        }
    }
}

/// The native module.
#[pymodule]
fn _slipstream(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Consumer>()?;
    map::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
