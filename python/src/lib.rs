//! `otto_rec._native`: the otto-rec library as a Python extension module. The Python
//! package (`otto_rec`) wraps it: DataFrames in and out, keyword options as flags.
//!
//! Two entry points, both with the GIL released while they work:
//! - [`run`]: any `otto-rec` command line (`build-index`, `train`, `predict`, …), parsed and
//!   executed exactly as the binary does, so a notebook gets the CLI's results;
//! - [`Recommender`]: a bundle opened once, answering sessions as `POST /predict` does — the
//!   same request checks, the same pipeline, the same items and scores.
//!
//! Every error is an `OttoRecError` whose `code` is the one the CLI logs and the HTTP API
//! answers with (`invalid_aid`, `bundle_not_found`, `training_not_built`, …).

use std::path::PathBuf;

use clap::Parser;
use otto_rec::bundle::Bundle;
use otto_rec::cli::Cli;
use otto_rec::http::api::{PredictRequest, ValidRequest};
use otto_rec::pipeline::Recommender as Pipeline;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    _native,
    OttoRecError,
    PyException,
    "An otto-rec error; `code` names its kind as the CLI and the HTTP API do."
);

/// The exception for `message`, with its `code` attribute set.
fn error(py: Python<'_>, code: &str, message: String) -> PyErr {
    let err = OttoRecError::new_err(message);
    if let Err(e) = err.value(py).setattr("code", code) {
        return e;
    }
    err
}

fn library_error(py: Python<'_>, e: otto_rec::Error) -> PyErr {
    error(py, e.code(), e.to_string())
}

/// Runs one `otto-rec` command line (without the program name), as the binary would.
#[pyfunction]
fn run(py: Python<'_>, args: Vec<String>) -> PyResult<()> {
    let argv = std::iter::once("otto-rec".to_string()).chain(args);
    let cli = Cli::try_parse_from(argv)
        .map_err(|e| error(py, "invalid_argument", e.render().to_string()))?;
    py.detach(|| otto_rec::run(cli))
        .map_err(|e| library_error(py, e))
}

/// A bundle (index, and rankers when trained) opened for recommendations.
#[pyclass(frozen)]
struct Recommender {
    pipeline: Pipeline,
    model_dir: PathBuf,
    version: String,
    has_rankers: bool,
}

#[pymethods]
impl Recommender {
    /// Opens and checks the bundle in `model_dir` (checksums, versions, features).
    #[new]
    fn new(py: Python<'_>, model_dir: PathBuf) -> PyResult<Self> {
        let bundle = py
            .detach(|| Bundle::open(&model_dir))
            .map_err(|e| library_error(py, e))?;
        let version = bundle.version().to_string();
        let has_rankers = bundle.has_rankers();
        Ok(Recommender {
            pipeline: bundle.into_recommender(),
            model_dir,
            version,
            has_rankers,
        })
    }

    /// The top `k` items for the session (events oldest first; out-of-order events are
    /// sorted by time) and objective `type`, best first, with their scores: what `POST
    /// /predict` answers for the same body.
    #[pyo3(signature = (aids, timestamps, event_types, r#type = "orders", k = 20))]
    fn recommend(
        &self,
        py: Python<'_>,
        aids: Vec<i64>,
        timestamps: Vec<i64>,
        event_types: Vec<i64>,
        r#type: &str,
        k: i64,
    ) -> PyResult<(Vec<u32>, Vec<f32>)> {
        let request = PredictRequest {
            aids: Some(aids),
            timestamps: Some(timestamps),
            event_types: Some(event_types),
            session: None,
            objective: Some(r#type.to_string()),
            k: Some(k),
        };
        let valid =
            ValidRequest::try_from(&request).map_err(|e| error(py, e.code(), e.to_string()))?;
        let (rec, _) = py.detach(|| {
            self.pipeline
                .recommend_timed(valid.session.view(), valid.objective, valid.k)
        });
        Ok((rec.aids, rec.scores))
    }

    /// The bundle's directory.
    #[getter]
    fn model_dir(&self) -> PathBuf {
        self.model_dir.clone()
    }

    /// The bundle's version (as `X-Model-Version` and `/health` report it).
    #[getter]
    fn version(&self) -> &str {
        &self.version
    }

    /// Whether the bundle holds rankers (else the heuristic ranks).
    #[getter]
    fn has_rankers(&self) -> bool {
        self.has_rankers
    }

    fn __repr__(&self) -> String {
        format!(
            "Recommender({:?}, version={:?}, rankers={})",
            self.model_dir.display().to_string(),
            self.version,
            self.has_rankers
        )
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("OttoRecError", m.py().get_type::<OttoRecError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_class::<Recommender>()?;
    Ok(())
}
