//! Size distributions for message bodies, given on the command line as
//! `N` (fixed), `uniform:A-B` or `log:A-B`. `log` spreads draws evenly over
//! powers of two, which matches API traffic: many small bodies, a long tail
//! of large ones.

use std::fmt;
use std::str::FromStr;

use crate::rng::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeDist {
    Fixed(u64),
    Uniform(u64, u64),
    Log(u64, u64),
}

impl SizeDist {
    pub fn sample(self, rng: &mut Rng) -> u64 {
        match self {
            SizeDist::Fixed(n) => n,
            SizeDist::Uniform(lo, hi) => rng.range(lo, hi),
            SizeDist::Log(lo, hi) => {
                // Pick a power-of-two band uniformly, then a value inside it.
                let lo1 = lo.max(1);
                let (klo, khi) = (63 - lo1.leading_zeros(), 63 - hi.max(1).leading_zeros());
                let k = rng.range(klo as u64, khi as u64) as u32;
                let band_lo = (1u64 << k).max(lo);
                let band_hi = ((1u64 << k) * 2 - 1).min(hi);
                rng.range(band_lo, band_hi)
            }
        }
    }
}

impl FromStr for SizeDist {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid size distribution '{s}': expected N, uniform:A-B or log:A-B");
        let pair = |body: &str| -> Result<(u64, u64), String> {
            let (a, b) = body.split_once('-').ok_or_else(bad)?;
            let (a, b) = (
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            );
            if a > b {
                return Err(bad());
            }
            Ok((a, b))
        };
        if let Some(body) = s.strip_prefix("uniform:") {
            let (a, b) = pair(body)?;
            Ok(SizeDist::Uniform(a, b))
        } else if let Some(body) = s.strip_prefix("log:") {
            let (a, b) = pair(body)?;
            Ok(SizeDist::Log(a, b))
        } else {
            s.trim().parse().map(SizeDist::Fixed).map_err(|_| bad())
        }
    }
}

impl fmt::Display for SizeDist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SizeDist::Fixed(n) => write!(f, "{n}"),
            SizeDist::Uniform(a, b) => write!(f, "uniform:{a}-{b}"),
            SizeDist::Log(a, b) => write!(f, "log:{a}-{b}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_forms() {
        assert_eq!("512".parse(), Ok(SizeDist::Fixed(512)));
        assert_eq!("uniform:1-9".parse(), Ok(SizeDist::Uniform(1, 9)));
        assert_eq!("log:32-8192".parse(), Ok(SizeDist::Log(32, 8192)));
        assert!("log:9-1".parse::<SizeDist>().is_err());
        assert!("big".parse::<SizeDist>().is_err());
    }

    #[test]
    fn log_stays_in_bounds_and_favours_small() {
        let d = SizeDist::Log(32, 8192);
        let mut rng = Rng::new(3);
        let draws: Vec<u64> = (0..10_000).map(|_| d.sample(&mut rng)).collect();
        assert!(draws.iter().all(|&v| (32..=8192).contains(&v)));
        let small = draws.iter().filter(|&&v| v < 1024).count();
        assert!(small > draws.len() / 2);
    }
}
