//! One side of a weighted split, shared by routes and by the members of an
//! aggregated route, and the rule for names that sit in admin URLs.

use serde::{Deserialize, Serialize};
use toml::Spanned;

/// The largest weight a side may have, in the file or through the admin
/// API: enough for per-mille splits and small enough that no sum of a few
/// sides overflows.
pub const MAX_WEIGHT: u32 = 1_000_000;

/// One side of a split.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSide {
    /// The backend's name.
    pub backend: Spanned<String>,
    /// Its share, relative to the other sides' weights. Zero keeps the side
    /// reachable for its sessions and for the override header, but sends it
    /// nothing new.
    pub weight: u32,
}

/// Whether `name` can sit in an admin URL as one segment.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
