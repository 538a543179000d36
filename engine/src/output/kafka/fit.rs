//! Fitting a record under OUTPUT_KAFKA_MAX_MESSAGE_BYTES by trimming its
//! bodies. A record is never dropped for size: the larger body is cut
//! first, then the other, until the serialized record fits.

use crate::record::BodyCaps;

/// Bytes taken beyond the measured excess on each step, so that cuts on
/// character boundaries and small escaping differences still converge.
const SLACK: usize = 64;

/// Steps before falling back to empty bodies; one or two are the norm.
const MAX_STEPS: usize = 12;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fit {
    /// `out` holds the record with its bodies cut to these caps.
    Trimmed(BodyCaps),
    /// Even with empty bodies the record is over the limit (huge heads);
    /// `out` holds that smallest form, which the producer will refuse.
    Impossible,
}

/// `lens` are the kept body lengths, `first_len` the size of the record
/// serialized without caps (already known by the caller), and `write`
/// serializes under given caps into `out` (cleared first by `fit`).
pub fn fit(
    limit: usize,
    lens: (usize, usize),
    first_len: usize,
    out: &mut Vec<u8>,
    mut write: impl FnMut(BodyCaps, &mut Vec<u8>),
) -> Fit {
    let mut serialize = |caps: (usize, usize), out: &mut Vec<u8>| {
        out.clear();
        let c = BodyCaps {
            request: caps.0,
            response: caps.1,
        };
        write(c, out);
        (c, out.len())
    };
    // The record without bodies: what no trimming can remove.
    let (_, head) = serialize((0, 0), out);
    if head > limit {
        return Fit::Impossible;
    }
    let mut caps = (lens.0, lens.1);
    let mut len = first_len;
    for _ in 0..MAX_STEPS {
        // Serialized bytes per kept byte differ by body (escapes, base64),
        // so the excess is converted at the ratio just measured.
        let raw = caps.0 + caps.1;
        let ratio = (len.saturating_sub(head) as f64 / raw.max(1) as f64).max(1.0);
        let take = ((len - limit) as f64 / ratio).ceil() as usize + SLACK;
        caps = shrink(caps, take);
        let (c, n) = serialize(caps, out);
        if n <= limit {
            return Fit::Trimmed(c);
        }
        len = n;
    }
    // Converging this slowly means pathological escaping: drop the bodies.
    let (c, _) = serialize((0, 0), out);
    Fit::Trimmed(c)
}

/// Removes `take` bytes, from the larger body first.
fn shrink((req, resp): (usize, usize), take: usize) -> (usize, usize) {
    if req >= resp {
        let a = take.min(req);
        (req - a, resp - (take - a).min(resp))
    } else {
        let a = take.min(resp);
        (req - (take - a).min(req), resp - a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake record: 200 bytes of head, request bytes once, response
    /// bytes escaped to two bytes each.
    fn fake(caps: BodyCaps, lens: (usize, usize), out: &mut Vec<u8>) {
        let req = lens.0.min(caps.request);
        let resp = lens.1.min(caps.response);
        out.resize(200 + req + 2 * resp, b'x');
    }

    #[test]
    fn trims_the_larger_body_until_it_fits() {
        let lens = (1_000, 20_000_000);
        let first = 200 + 1_000 + 40_000_000;
        let mut out = Vec::new();
        let limit = 5 * 1024 * 1024;
        let f = fit(limit, lens, first, &mut out, |c, o| fake(c, lens, o));
        let Fit::Trimmed(caps) = f else {
            panic!("{f:?}")
        };
        assert!(out.len() <= limit);
        assert_eq!(caps.request, 1_000, "the small body is kept whole");
        assert!(caps.response < lens.1);
        // Not trimmed much more than needed.
        assert!(limit - out.len() < 4096, "{} spare", limit - out.len());
    }

    #[test]
    fn both_bodies_go_when_needed() {
        let lens = (3_000, 3_000);
        let first = 200 + 3_000 + 6_000;
        let mut out = Vec::new();
        let f = fit(1_000, lens, first, &mut out, |c, o| fake(c, lens, o));
        assert!(matches!(f, Fit::Trimmed(c) if c.response < 400 && c.request < 3_000));
        assert!(out.len() <= 1_000);
    }

    #[test]
    fn huge_heads_cannot_fit() {
        let lens = (10, 10);
        let mut out = Vec::new();
        let f = fit(100, lens, 230, &mut out, |c, o| fake(c, lens, o));
        assert_eq!(f, Fit::Impossible);
    }
}
