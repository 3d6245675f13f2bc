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

/// Deserialises a string as itself and anything else (`null`, a number, a
/// map) as "": for metadata the engine only consults, where a wrong type
/// must not make the whole object invalid.
pub fn lenient_string<'de, D>(d: D) -> Result<String, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Lenient {
        Text(String),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Lenient::deserialize(d)? {
        Lenient::Text(s) => s,
        Lenient::Other(_) => String::new(),
    })
}
