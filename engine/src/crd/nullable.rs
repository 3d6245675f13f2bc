//! Serde helpers for Go's JSON: `null` (a nil slice or map) reads as empty.

use serde::{Deserialize, Deserializer};

/// Deserialises `null` as `T::default()`; use with `#[serde(default)]` so an
/// absent field is the default too.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
