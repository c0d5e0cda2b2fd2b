//! Human units in config files: durations (`"250ms"`, `"10s"`), byte sizes
//! (`"4MiB"`, or a bare integer of bytes) and percentages (`"10%"`).
//!
//! All are newtypes whose `Deserialize` does the parsing, so a bad value is
//! reported by serde with the key path and line of the offending key.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// A duration written the way people write them: `"250ms"`, `"10s"`, `"1m 30s"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// Wraps a whole number of seconds (used for defaults).
    pub const fn secs(s: u64) -> Self {
        Self(std::time::Duration::from_secs(s))
    }

    /// Wraps a whole number of milliseconds (used for defaults).
    pub const fn millis(ms: u64) -> Self {
        Self(std::time::Duration::from_millis(ms))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text).map(Self).map_err(de::Error::custom)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

/// Parses a human duration; a zero duration is rejected because every
/// duration in the config is a timeout or an interval, where zero is a mistake.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let parsed = humantime::parse_duration(text.trim())
        .map_err(|e| format!("invalid duration `{text}` ({e}); write it like \"250ms\", \"10s\" or \"2m\""))?;
    if parsed.is_zero() {
        return Err(format!("duration `{text}` must be greater than zero"));
    }
    Ok(parsed)
}

/// A share written as a percentage, `"10%"`; holds the fraction (`0.1`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Percent(pub f64);

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_percent(&text).map(Self).map_err(de::Error::custom)
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}%", self.0 * 100.0))
    }
}

/// Parses `"10%"` or `"2.5 %"` into a fraction in `[0, 1]`.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let bad = || format!("invalid percentage `{text}`; write it like \"10%\"");
    let number = text.trim().strip_suffix('%').ok_or_else(bad)?.trim();
    let value: f64 = number.parse().map_err(|_| bad())?;
    if !(0.0..=100.0).contains(&value) {
        return Err(format!("percentage `{text}` must be between 0% and 100%"));
    }
    Ok(value / 100.0)
}

/// A size in bytes: an integer, or a string with a unit (`"512KiB"`, `"4MB"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a byte size such as 1048576 or \"4MiB\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v).map(ByteSize).map_err(|_| E::custom("a byte size cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                parse_bytes(v).map(ByteSize).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

/// Parses `"4MiB"`, `"512 KB"`, `"100"`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let bad = || format!("invalid byte size `{text}`; write it like 1048576, \"512KiB\" or \"4MiB\"");
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1_000,
        "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "GiB" => 1 << 30,
        _ => return Err(bad()),
    };
    n.checked_mul(scale).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap().as_millis(), 250);
        assert_eq!(parse_duration("10s").unwrap().as_secs(), 10);
        assert_eq!(parse_duration("1m 30s").unwrap().as_secs(), 90);
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("ten seconds").is_err());
        assert!(parse_duration("10").is_err());
    }

    #[test]
    fn percentages() {
        assert_eq!(parse_percent("10%").unwrap(), 0.1);
        assert_eq!(parse_percent(" 2.5 % ").unwrap(), 0.025);
        assert!(parse_percent("10").is_err());
        assert!(parse_percent("150%").is_err());
        assert!(parse_percent("-1%").is_err());
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("100").unwrap(), 100);
        assert_eq!(parse_bytes("4MiB").unwrap(), 4 << 20);
        assert_eq!(parse_bytes("512 KB").unwrap(), 512_000);
        assert!(parse_bytes("4 parsecs").is_err());
        assert!(parse_bytes("").is_err());
        assert!(parse_bytes("99999999999999GiB").is_err());
    }
}
