//! What the load generator sends: the operations and the weighted mix of them.
//!
//! A mix is parsed once from the command line (`call`, `list`, `read`, `churn`,
//! or weights such as `call=8,list=1,read=1`) and each worker then picks one
//! operation per request with its own tiny generator, so picking costs a
//! multiply and a few comparisons and never touches shared state.

use std::fmt;
use std::str::FromStr;

/// One kind of request the bench sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `tools/call` of the configured tool (default `echo`).
    Call,
    /// `tools/list`.
    List,
    /// `resources/read` of the configured uri (default `mock://readme`).
    Read,
    /// A whole short session: `initialize`, `notifications/initialized`, one
    /// `tools/call`, `DELETE`. In the stateless era, just the call.
    Churn,
}

impl Op {
    const ALL: [Op; 4] = [Op::Call, Op::List, Op::Read, Op::Churn];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::Call => "call",
            Op::List => "list",
            Op::Read => "read",
            Op::Churn => "churn",
        }
    }
}

/// Operations with integer weights; each request picks one in proportion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    entries: Vec<(Op, u32)>,
    total: u32,
}

impl Mix {
    /// A mix of one operation only.
    pub fn only(op: Op) -> Self {
        Self { entries: vec![(op, 1)], total: 1 }
    }

    /// Whether `op` can be picked.
    pub fn contains(&self, op: Op) -> bool {
        self.entries.iter().any(|(o, _)| *o == op)
    }

    /// Whether every request is a churn (so workers need no long-lived session).
    pub fn churn_only(&self) -> bool {
        self.entries.iter().all(|(o, _)| *o == Op::Churn)
    }

    /// Picks an operation for a uniformly random `r`.
    pub(crate) fn pick(&self, r: u32) -> Op {
        if let [(op, _)] = self.entries.as_slice() {
            return *op;
        }
        // Lemire's multiply-shift: maps `r` onto `0..total` without a division.
        let mut at = ((u64::from(r) * u64::from(self.total)) >> 32) as u32;
        for (op, weight) in &self.entries {
            if at < *weight {
                return *op;
            }
            at -= weight;
        }
        self.entries.last().map_or(Op::Call, |(op, _)| *op)
    }
}

impl Default for Mix {
    fn default() -> Self {
        Self::only(Op::Call)
    }
}

impl FromStr for Mix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut entries: Vec<(Op, u32)> = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = match part.split_once('=') {
                Some((name, w)) => {
                    let w = w.trim().parse::<u32>().map_err(|_| format!("invalid weight in `{part}`"))?;
                    (name.trim(), w)
                }
                None => (part, 1),
            };
            let op = Op::ALL
                .into_iter()
                .find(|op| op.name() == name)
                .ok_or_else(|| format!("unknown operation `{name}` (expected call, list, read or churn)"))?;
            if entries.iter().any(|(o, _)| *o == op) {
                return Err(format!("`{name}` appears twice in the mix"));
            }
            if weight > 0 {
                entries.push((op, weight));
            }
        }
        let total = entries.iter().try_fold(0u32, |sum, (_, w)| sum.checked_add(*w)).ok_or("weights too large")?;
        if total == 0 {
            return Err("the mix is empty: name at least one of call, list, read, churn".into());
        }
        Ok(Self { entries, total })
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [(op, _)] = self.entries.as_slice() {
            return f.write_str(op.name());
        }
        for (i, (op, weight)) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}={weight}", op.name())?;
        }
        Ok(())
    }
}

/// A xorshift generator: one per worker, seeded by the worker's index.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so neighbouring seeds give unrelated streams.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((z ^ (z >> 31)) | 1)
    }

    pub(crate) fn next_u32(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_and_weighted_mixes() {
        assert_eq!("call".parse::<Mix>().unwrap(), Mix::only(Op::Call));
        let m: Mix = "call=8, list=1,read=1".parse().unwrap();
        assert_eq!(m.to_string(), "call=8,list=1,read=1");
        assert!(m.contains(Op::List) && !m.contains(Op::Churn));
        assert!("churn".parse::<Mix>().unwrap().churn_only());
        assert!("call=0".parse::<Mix>().is_err());
        assert!("bogus".parse::<Mix>().is_err());
        assert!("call,call".parse::<Mix>().is_err());
        assert!("call=x".parse::<Mix>().is_err());
    }

    #[test]
    fn picks_in_proportion_to_weights() {
        let m: Mix = "call=8,list=1,read=1".parse().unwrap();
        let mut rng = Rng::new(7);
        let mut counts = [0u32; 3];
        for _ in 0..100_000 {
            match m.pick(rng.next_u32()) {
                Op::Call => counts[0] += 1,
                Op::List => counts[1] += 1,
                Op::Read => counts[2] += 1,
                Op::Churn => unreachable!(),
            }
        }
        assert!((78_000..82_000).contains(&counts[0]), "{counts:?}");
        assert!((9_000..11_000).contains(&counts[1]), "{counts:?}");
        assert!((9_000..11_000).contains(&counts[2]), "{counts:?}");
    }
}
