//! LightGBM through its C API (`lightgbm3-sys`, the library the `lightgbm3` crate links):
//! datasets with labels and query groups, and a boosting loop owned here — one iteration
//! at a time, the validation metric read after each — so training reports progress per
//! tree and stops early on the metric.
//!
//! This is the only module of otto-rec that calls foreign code. The safety argument, once
//! for every call below:
//! - every handle is created by LightGBM, owned by exactly one [`Dataset`] or [`Booster`],
//!   used only while that value lives and freed once in its `Drop`;
//! - every pointer passed in points into a live Rust slice whose length is the count
//!   passed with it (checked before the call, in `i32` range as the API requires);
//!   LightGBM copies what it keeps (datasets bin the rows they are given, fields are
//!   copied), so no pointer outlives the call;
//! - every out-pointer is a live local or a buffer of the length LightGBM was told;
//! - strings passed in are `CString`s, and the one string LightGBM returns
//!   (`LGBM_GetLastError`) is copied before the next call.
//!
//! `Dataset` and `Booster` are not `Send`: a handle is used by the thread that made it
//! (LightGBM itself runs its OpenMP threads inside a call).

use std::ffi::{CStr, CString, c_char, c_void};

use lightgbm3_sys as sys;

/// An error reported by LightGBM, or an argument it cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LightgbmError(pub String);

type Result<T> = std::result::Result<T, LightgbmError>;

/// Turns a C API return code into a result with LightGBM's last error message.
fn check(code: i32) -> Result<()> {
    if code == 0 {
        return Ok(());
    }
    // SAFETY: LGBM_GetLastError returns a pointer to a NUL-terminated thread-local buffer,
    // valid until the next API call on this thread; it is copied at once.
    let message = unsafe { CStr::from_ptr(sys::LGBM_GetLastError()) }
        .to_string_lossy()
        .into_owned();
    Err(LightgbmError(message))
}

fn c_string(text: &str) -> Result<CString> {
    CString::new(text).map_err(|_| LightgbmError(format!("NUL byte in {text:?}")))
}

fn count(n: usize, what: &str) -> Result<i32> {
    i32::try_from(n).map_err(|_| LightgbmError(format!("{n} {what}: more than 2^31")))
}

/// LightGBM parameters as its `key=value key=value` string.
pub fn params_string(params: &[(&str, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A LightGBM dataset: binned feature rows with labels and, for ranking, query groups.
pub struct Dataset {
    handle: sys::DatasetHandle,
    rows: usize,
}

impl Dataset {
    /// A dataset from row-major f32 rows of `width` features. With `reference`, its bins
    /// are the reference's (a validation set must share the training set's bins).
    pub fn from_rows(
        rows: &[f32],
        width: usize,
        params: &str,
        reference: Option<&Dataset>,
    ) -> Result<Self> {
        if width == 0 || rows.is_empty() || !rows.len().is_multiple_of(width) {
            return Err(LightgbmError(format!(
                "{} values do not form rows of {width} features",
                rows.len()
            )));
        }
        let n = count(rows.len() / width, "rows")?;
        let ncol = count(width, "features")?;
        let params = c_string(params)?;
        let mut handle: sys::DatasetHandle = std::ptr::null_mut();
        // SAFETY: see the module docs; `rows` holds n × ncol values.
        check(unsafe {
            sys::LGBM_DatasetCreateFromMat(
                rows.as_ptr() as *const c_void,
                sys::C_API_DTYPE_FLOAT32 as i32,
                n,
                ncol,
                1,
                params.as_ptr(),
                reference.map_or(std::ptr::null_mut(), |r| r.handle),
                &mut handle,
            )
        })?;
        Ok(Dataset {
            handle,
            rows: n as usize,
        })
    }

    /// An empty dataset of `total` rows with the bins of `reference`, filled by
    /// [`push_rows`](Self::push_rows) block by block, so the full matrix never has to be
    /// held in memory.
    pub fn with_bins_of(reference: &Dataset, total: usize) -> Result<Self> {
        let mut handle: sys::DatasetHandle = std::ptr::null_mut();
        // SAFETY: see the module docs.
        check(unsafe {
            sys::LGBM_DatasetCreateByReference(reference.handle, total as i64, &mut handle)
        })?;
        Ok(Dataset {
            handle,
            rows: total,
        })
    }

    /// Writes `rows` (row-major, `width` features) at row `start` of a dataset made by
    /// [`with_bins_of`](Self::with_bins_of). LightGBM finishes the dataset when its last
    /// row arrives.
    pub fn push_rows(&mut self, rows: &[f32], width: usize, start: usize) -> Result<()> {
        if width == 0 || !rows.len().is_multiple_of(width) {
            return Err(LightgbmError("rows of the wrong width".into()));
        }
        let n = rows.len() / width;
        if n == 0 {
            return Ok(());
        }
        if start + n > self.rows {
            return Err(LightgbmError(format!(
                "rows {start}..{} beyond the dataset's {}",
                start + n,
                self.rows
            )));
        }
        // SAFETY: see the module docs; `rows` holds n × width values.
        check(unsafe {
            sys::LGBM_DatasetPushRows(
                self.handle,
                rows.as_ptr() as *const c_void,
                sys::C_API_DTYPE_FLOAT32 as i32,
                count(n, "rows")?,
                count(width, "features")?,
                count(start, "rows")?,
            )
        })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Sets the label of every row.
    pub fn set_labels(&mut self, labels: &[f32]) -> Result<()> {
        if labels.len() != self.rows {
            return Err(LightgbmError(format!(
                "{} labels for {} rows",
                labels.len(),
                self.rows
            )));
        }
        let name = c_string("label")?;
        // SAFETY: see the module docs; `labels` holds `rows` values.
        check(unsafe {
            sys::LGBM_DatasetSetField(
                self.handle,
                name.as_ptr(),
                labels.as_ptr() as *const c_void,
                count(labels.len(), "labels")?,
                sys::C_API_DTYPE_FLOAT32 as i32,
            )
        })
    }

    /// Sets the query groups: consecutive runs of rows of the given sizes (one per
    /// session), which must add up to the row count.
    pub fn set_groups(&mut self, sizes: &[i32]) -> Result<()> {
        let total: i64 = sizes.iter().map(|&s| s as i64).sum();
        if total != self.rows as i64 || sizes.iter().any(|&s| s <= 0) {
            return Err(LightgbmError(format!(
                "groups cover {total} rows of {}",
                self.rows
            )));
        }
        let name = c_string("group")?;
        // SAFETY: see the module docs; `sizes` holds `sizes.len()` values.
        check(unsafe {
            sys::LGBM_DatasetSetField(
                self.handle,
                name.as_ptr(),
                sizes.as_ptr() as *const c_void,
                count(sizes.len(), "groups")?,
                sys::C_API_DTYPE_INT32 as i32,
            )
        })
    }

    /// Names the features (stored in the trained model).
    pub fn set_feature_names(&mut self, names: &[&str]) -> Result<()> {
        let owned: Vec<CString> = names.iter().map(|n| c_string(n)).collect::<Result<_>>()?;
        let mut pointers: Vec<*const c_char> = owned.iter().map(|s| s.as_ptr()).collect();
        // SAFETY: see the module docs; `pointers` holds `names.len()` live C strings.
        check(unsafe {
            sys::LGBM_DatasetSetFeatureNames(
                self.handle,
                pointers.as_mut_ptr(),
                count(names.len(), "features")?,
            )
        })
    }
}

impl Drop for Dataset {
    fn drop(&mut self) {
        // SAFETY: the handle is owned by this value and freed once.
        unsafe { sys::LGBM_DatasetFree(self.handle) };
    }
}

/// A booster being trained on one dataset, evaluated on one validation dataset.
pub struct Booster<'a> {
    handle: sys::BoosterHandle,
    /// The datasets must outlive the booster, which refers to them.
    _data: std::marker::PhantomData<&'a Dataset>,
}

impl<'a> Booster<'a> {
    /// A booster on `train` with `params`, evaluated on `valid` after each iteration.
    pub fn new(train: &'a Dataset, valid: &'a Dataset, params: &str) -> Result<Self> {
        let params = c_string(params)?;
        let mut handle: sys::BoosterHandle = std::ptr::null_mut();
        // SAFETY: see the module docs.
        check(unsafe { sys::LGBM_BoosterCreate(train.handle, params.as_ptr(), &mut handle) })?;
        let booster = Booster {
            handle,
            _data: std::marker::PhantomData,
        };
        // SAFETY: see the module docs.
        check(unsafe { sys::LGBM_BoosterAddValidData(booster.handle, valid.handle) })?;
        Ok(booster)
    }

    /// Adds one tree; `false` when no split could be made (training is over).
    pub fn update(&mut self) -> Result<bool> {
        let mut finished = 0i32;
        // SAFETY: see the module docs.
        check(unsafe { sys::LGBM_BoosterUpdateOneIter(self.handle, &mut finished) })?;
        Ok(finished == 0)
    }

    /// Removes the last tree.
    pub fn rollback(&mut self) -> Result<()> {
        // SAFETY: see the module docs.
        check(unsafe { sys::LGBM_BoosterRollbackOneIter(self.handle) })
    }

    /// The metrics on the validation dataset after the last iteration.
    pub fn validation_metrics(&self) -> Result<Vec<f64>> {
        let mut n = 0i32;
        // SAFETY: see the module docs.
        check(unsafe { sys::LGBM_BoosterGetEvalCounts(self.handle, &mut n) })?;
        let mut values = vec![0f64; n.max(0) as usize];
        let mut len = 0i32;
        if n > 0 {
            // SAFETY: see the module docs; `values` holds the `n` results LightGBM reports.
            check(unsafe {
                sys::LGBM_BoosterGetEval(self.handle, 1, &mut len, values.as_mut_ptr())
            })?;
        }
        values.truncate(len.max(0) as usize);
        Ok(values)
    }

    /// The model as LightGBM's text format.
    pub fn model_text(&self) -> Result<String> {
        let mut len = 0i64;
        // SAFETY: see the module docs; a zero-length buffer asks for the size.
        check(unsafe {
            sys::LGBM_BoosterSaveModelToString(
                self.handle,
                0,
                -1,
                0,
                0,
                &mut len,
                std::ptr::null_mut(),
            )
        })?;
        let mut buffer = vec![0u8; len.max(0) as usize];
        // SAFETY: see the module docs; `buffer` holds `len` bytes.
        check(unsafe {
            sys::LGBM_BoosterSaveModelToString(
                self.handle,
                0,
                -1,
                0,
                buffer.len() as i64,
                &mut len,
                buffer.as_mut_ptr() as *mut c_char,
            )
        })?;
        let text = CStr::from_bytes_until_nul(&buffer)
            .map_err(|_| LightgbmError("model text without its end".into()))?;
        Ok(text.to_string_lossy().into_owned())
    }
}

impl Drop for Booster<'_> {
    fn drop(&mut self) {
        // SAFETY: the handle is owned by this value and freed once.
        unsafe { sys::LGBM_BoosterFree(self.handle) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_shapes_are_errors_not_crashes() {
        assert!(Dataset::from_rows(&[1.0, 2.0, 3.0], 2, "", None).is_err());
        assert!(Dataset::from_rows(&[], 2, "", None).is_err());
        let mut d = Dataset::from_rows(&[1.0, 2.0, 3.0, 4.0], 2, "verbose=-1", None).unwrap();
        assert!(d.set_labels(&[1.0]).is_err());
        assert!(d.set_groups(&[1, 2]).is_err());
        assert!(d.set_groups(&[2]).is_ok());
        let err = Dataset::from_rows(&[1.0, 2.0], 2, "max_bin=oops", None).err();
        assert!(err.is_some(), "LightGBM's own message comes back");
    }
}
