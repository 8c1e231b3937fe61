//! placeholder
use pyo3::prelude::*;
#[pymodule]
fn _slipstream(_m: &Bound<'_, PyModule>) -> PyResult<()> { Ok(()) }
