//! Range checks of configuration values, shared by every model's `validate`: each error
//! names the key and says what was expected.

use crate::error::{Error, Result};

/// `value` is at least 1.
pub(crate) fn at_least_one(key: &str, value: usize) -> Result<()> {
    if value == 0 {
        return Err(Error::config(key, "must be at least 1"));
    }
    Ok(())
}

/// `value` is a finite number above 0.
pub(crate) fn positive(key: &str, value: f64) -> Result<()> {
    if !(value.is_finite() && value > 0.0) {
        return Err(Error::config(key, format!("{value} must be > 0")));
    }
    Ok(())
}

/// `value` is a finite number of at least 0.
pub(crate) fn non_negative(key: &str, value: f64) -> Result<()> {
    if !(value.is_finite() && value >= 0.0) {
        return Err(Error::config(key, format!("{value} must be ≥ 0")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_key_and_the_range() {
        assert!(at_least_one("m.k", 1).is_ok());
        assert_eq!(
            at_least_one("m.k", 0).unwrap_err().to_string(),
            "m.k: must be at least 1"
        );
        assert!(positive("m.x", 0.5).is_ok());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(positive("m.x", bad)
                .unwrap_err()
                .to_string()
                .starts_with("m.x: "));
        }
        assert_eq!(
            positive("m.x", 0.0).unwrap_err().to_string(),
            "m.x: 0 must be > 0"
        );
        assert!(non_negative("m.r", 0.0).is_ok());
        assert_eq!(
            non_negative("m.r", -0.5).unwrap_err().to_string(),
            "m.r: -0.5 must be ≥ 0"
        );
    }
}
