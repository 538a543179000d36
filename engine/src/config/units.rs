//! Parsers for the value forms the configuration accepts: sizes, durations
//! and booleans. Each error names the accepted form, so a bad value can be
//! reported in one line.

use std::time::Duration;

/// A value not in the accepted form; shows as that form (clap puts the
/// variable and the value in front).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("{SIZE_FORM}")]
    Size,
    #[error("{DURATION_FORM}")]
    Duration,
    #[error("{BOOL_FORM}")]
    Bool,
    #[error("a whole number from {min} to {max}")]
    Int { min: u64, max: u64 },
    #[error("{PATHS_FORM}")]
    Paths,
    /// A size outside its bounds; shows the form and the range.
    #[error("{SIZE_FORM}, from {0}")]
    SizeOutside(&'static str),
    /// A duration outside its bounds; shows the form and the range.
    #[error("{DURATION_FORM}, from {0}")]
    DurationOutside(&'static str),
    #[error("{HEADER_NAMES_FORM}")]
    HeaderNames,
    #[error("{KEYS_FORM}")]
    Keys,
    #[error("{EXTENSIONS_FORM}")]
    Extensions,
    #[error("{MEDIA_TYPES_FORM}")]
    MediaTypes,
    #[error("a power of two from 64KiB to 1GiB, e.g. 8MiB")]
    RingBytes,
    #[error("{UPROBE_LIBS_FORM}")]
    UprobeLibs,
}

/// Bounds of a size setting, with how they read ("16MiB to 16TiB").
pub struct SizeBounds {
    pub min: u64,
    pub max: u64,
    pub text: &'static str,
}

/// Bounds of a duration setting, with how they read ("100ms to 1d").
pub struct DurationBounds {
    pub min: Duration,
    pub max: Duration,
    pub text: &'static str,
}

const DAY: Duration = Duration::from_secs(86_400);

/// HEAP_LIMIT: a shard needs room for its table and a few connections;
/// the top keeps byte arithmetic far from overflow.
pub const HEAP_LIMIT_BOUNDS: SizeBounds = SizeBounds {
    min: 16 << 20,
    max: 16 << 40,
    text: "16MiB to 16TiB",
};

/// Durations that are added to capture times or multiplied (the idle
/// timeout is 12 × ASSEMBLER_FLUSH_AGE) stay at most a day.
pub const FLUSH_INTERVAL_BOUNDS: DurationBounds = DurationBounds {
    min: Duration::from_millis(1),
    max: DAY,
    text: "1ms to 1d",
};
pub const UP_TO_A_DAY: DurationBounds = DurationBounds {
    min: Duration::ZERO,
    max: DAY,
    text: "0s to 1d",
};
/// TLS_UPROBE_SCAN_INTERVAL: each scan reads every process's memory
/// map; more often than 10 a second is only cost, and an hour is as late
/// as a new process could sensibly be found.
pub const UPROBE_SCAN_BOUNDS: DurationBounds = DurationBounds {
    min: Duration::from_millis(100),
    max: Duration::from_secs(3600),
    text: "100ms to 1h",
};
/// METRICS_INTERVAL: each tick walks every counter of every shard and
/// may write the health file; faster than 10 a second is only cost.
pub const METRICS_INTERVAL_BOUNDS: DurationBounds = DurationBounds {
    min: Duration::from_millis(100),
    max: DAY,
    text: "100ms to 1d",
};
/// OUTPUT_KAFKA_FLUSH_FREQUENCY: librdkafka's linger.ms goes up to 900000.
pub const LINGER_BOUNDS: DurationBounds = DurationBounds {
    min: Duration::ZERO,
    max: Duration::from_secs(900),
    text: "0s to 15m",
};

/// ASSEMBLER_WORKER_PKT_BUF: a live ring of this many 2 KiB frames per
/// shard (1000000: about 2 GiB) is as large as is sane.
pub const MAX_PKT_BUF: u64 = 1_000_000;

pub const SIZE_FORM: &str = "a size such as 65536, 128KiB, 5mb or 16GiB (binary units)";
pub const DURATION_FORM: &str = "a duration such as 50ms, 500ms, 5s or 1m";
pub const BOOL_FORM: &str = "true, false, 1 or 0";
pub const PATHS_FORM: &str = "file paths separated by commas, none of them empty";
pub const UPROBE_LIBS_FORM: &str =
    "auto (every libssl this host's processes map), or libssl file paths separated by commas";
pub const HEADER_NAMES_FORM: &str =
    "HTTP header names separated by commas, such as authorization,cookie,x-api-key";
pub const KEYS_FORM: &str = "JSON keys separated by commas, none of them empty";
pub const EXTENSIONS_FORM: &str =
    "file extensions without the dot separated by commas, such as jpg,png,woff2";
pub const MEDIA_TYPES_FORM: &str =
    "media types separated by commas, such as image/png,text/css or image/* for a whole type";

/// An RFC 9110 token (header names, media type parts).
fn is_token(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Parses a comma-separated list of header names (empty: none).
pub fn parse_header_names(s: &str) -> Result<String, FormError> {
    if s.trim().is_empty() {
        return Ok(String::new());
    }
    if !s.split(',').all(|n| is_token(n.trim())) {
        return Err(FormError::HeaderNames);
    }
    Ok(s.to_owned())
}

/// Parses a comma-separated list of JSON keys (empty: none).
pub fn parse_key_list(s: &str) -> Result<String, FormError> {
    if s.trim().is_empty() {
        return Ok(String::new());
    }
    if s.split(',').any(|k| k.trim().is_empty()) {
        return Err(FormError::Keys);
    }
    Ok(s.to_owned())
}

/// Parses FILTER_BLOCK_EXTS: extensions as the filter compares them, the
/// part of a path's last segment after its last dot. An entry that can
/// never be one (`tar.gz`, `a b`, `png?`) would silently match nothing,
/// so it is refused; a leading dot (`.png`) is dropped. Empty entries are
/// skipped (a trailing comma), an empty list turns the filter off.
pub fn parse_extension_list(s: &str) -> Result<String, FormError> {
    let mut exts = Vec::new();
    for e in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let e = e.strip_prefix('.').unwrap_or(e);
        let fits = |b: u8| b.is_ascii_graphic() && !b"./?#,;".contains(&b);
        if e.is_empty() || !e.bytes().all(fits) {
            return Err(FormError::Extensions);
        }
        exts.push(e);
    }
    Ok(exts.join(","))
}

/// Parses TLS_UPROBE_LIBS: `auto` alone, or file paths.
pub fn parse_uprobe_libs(s: &str) -> Result<String, FormError> {
    let entries: Vec<&str> = s.split(',').map(str::trim).collect();
    let auto = entries.iter().any(|e| e.eq_ignore_ascii_case("auto"));
    if entries.iter().any(|e| e.is_empty()) || (auto && entries.len() > 1) {
        return Err(FormError::UprobeLibs);
    }
    Ok(s.trim().to_owned())
}

/// Parses a media type filter list: each entry `type/subtype` (tokens,
/// no parameters) or `type/*`. Anything else (`png`, `image/png;q=1`)
/// would silently match nothing, so it is refused. Empty entries are
/// skipped, an empty list turns the filter off.
pub fn parse_media_type_list(s: &str) -> Result<String, FormError> {
    for m in s.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        match m.split_once('/') {
            Some((t, sub)) if is_token(t) && is_token(sub) => {}
            _ => return Err(FormError::MediaTypes),
        }
    }
    Ok(s.to_owned())
}

/// Parses a comma-separated list of file paths (kept as given).
pub fn parse_path_list(s: &str) -> Result<String, FormError> {
    if s.split(',').any(|p| p.trim().is_empty()) {
        return Err(FormError::Paths);
    }
    Ok(s.to_owned())
}

/// Parses `128KiB`, `5mb`, `16GiB`, `3MiB` or plain bytes. Every unit is
/// binary: k/kb/KiB = 1024, m/mb/MiB = 1024², g/gb/GiB = 1024³.
pub fn parse_size(s: &str) -> Result<u64, FormError> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    if digits.is_empty() {
        return Err(FormError::Size);
    }
    let n: u64 = digits.parse().map_err(|_| FormError::Size)?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(FormError::Size),
    };
    n.checked_mul(mult).ok_or(FormError::Size)
}

/// A BPF ring's size: the kernel wants a power of two of whole pages.
pub fn parse_ring_bytes(s: &str) -> Result<u64, FormError> {
    match parse_size(s) {
        Ok(n) if n.is_power_of_two() && ((64 << 10)..=(1 << 30)).contains(&n) => Ok(n),
        _ => Err(FormError::RingBytes),
    }
}

/// Parses a size within `b`.
pub fn parse_size_within(s: &str, b: &SizeBounds) -> Result<u64, FormError> {
    let n = parse_size(s).map_err(|_| FormError::SizeOutside(b.text))?;
    if !(b.min..=b.max).contains(&n) {
        return Err(FormError::SizeOutside(b.text));
    }
    Ok(n)
}

/// Parses a duration within `b`.
pub fn parse_duration_within(s: &str, b: &DurationBounds) -> Result<Duration, FormError> {
    let d = parse_duration(s).map_err(|_| FormError::DurationOutside(b.text))?;
    if d < b.min || d > b.max {
        return Err(FormError::DurationOutside(b.text));
    }
    Ok(d)
}

/// Parses `50ms`, `5s`, `1m` and other humantime forms.
pub fn parse_duration(s: &str) -> Result<Duration, FormError> {
    humantime::parse_duration(s.trim()).map_err(|_| FormError::Duration)
}

/// Parses a whole number within `min..=max`; the error names the range.
pub fn parse_int<T: TryFrom<u64>>(s: &str, min: u64, max: u64) -> Result<T, FormError> {
    let form = FormError::Int { min, max };
    let n: u64 = s.trim().parse().map_err(|_| form)?;
    if !(min..=max).contains(&n) {
        return Err(form);
    }
    T::try_from(n).map_err(|_| form)
}

pub fn parse_bool(s: &str) -> Result<bool, FormError> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(FormError::Bool),
    }
}

/// Splits a comma-separated list, trimming blanks; an empty value is an empty list.
pub fn parse_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|p| p.trim().to_ascii_lowercase())
        .filter(|p| !p.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_lists_refuse_entries_that_never_match() {
        use crate::config::{
            DEFAULT_BLOCK_ACCEPT, DEFAULT_BLOCK_CTYPES, DEFAULT_BLOCK_EXTS, DEFAULT_BLOCK_MULTIPART,
        };
        let exts = DEFAULT_BLOCK_EXTS;
        assert_eq!(parse_extension_list(exts).as_deref(), Ok(exts));
        assert_eq!(
            parse_extension_list(" .PNG, jpg ,,").as_deref(),
            Ok("PNG,jpg")
        );
        assert_eq!(parse_extension_list("").as_deref(), Ok(""));
        for bad in ["tar.gz", "a b", "png?", ".", "zip/x", "café"] {
            assert_eq!(
                parse_extension_list(bad),
                Err(FormError::Extensions),
                "{bad}"
            );
        }
        for good in [
            DEFAULT_BLOCK_CTYPES,
            DEFAULT_BLOCK_ACCEPT,
            DEFAULT_BLOCK_MULTIPART,
        ] {
            assert_eq!(parse_media_type_list(good).as_deref(), Ok(good));
        }
        assert!(parse_media_type_list("image/*, */*,text/css,").is_ok());
        assert!(parse_media_type_list("").is_ok());
        for bad in [
            "png",
            "image/png;q=1",
            "image/",
            "/png",
            "zz%9",
            "a b/c",
            "image/png/x",
        ] {
            assert_eq!(
                parse_media_type_list(bad),
                Err(FormError::MediaTypes),
                "{bad}"
            );
        }
    }

    #[test]
    fn sizes_are_binary() {
        assert_eq!(parse_size("128KiB"), Ok(131_072));
        assert_eq!(parse_size("5mb"), Ok(5 * 1_048_576));
        assert_eq!(parse_size("5MB"), Ok(5 * 1_048_576));
        assert_eq!(parse_size("3MiB"), Ok(3 * 1_048_576));
        assert_eq!(parse_size("16GiB"), Ok(16 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("5xb").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999999999999").is_err());
    }

    #[test]
    fn durations_and_bools() {
        assert_eq!(parse_duration("50ms"), Ok(Duration::from_millis(50)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_bool("1"), Ok(true));
        assert_eq!(parse_bool("FALSE"), Ok(false));
        assert!(parse_bool("yes").is_err());
        assert_eq!(parse_int::<u16>("3", 1, 1024), Ok(3));
        assert!(parse_int::<u16>("0", 1, 1024).is_err());
        assert!(parse_int::<u8>("-1", 0, 5).is_err());
    }

    #[test]
    fn bounded_values_name_their_range() {
        assert_eq!(parse_size_within("16MiB", &HEAP_LIMIT_BOUNDS), Ok(16 << 20));
        let e = parse_size_within("0", &HEAP_LIMIT_BOUNDS).unwrap_err();
        assert!(e.to_string().ends_with("from 16MiB to 16TiB"), "{e}");
        assert!(parse_size_within("17TiB", &HEAP_LIMIT_BOUNDS).is_err());
        assert_eq!(
            parse_duration_within("1d", &UP_TO_A_DAY),
            Ok(Duration::from_secs(86_400))
        );
        assert!(parse_duration_within("1000000h", &UP_TO_A_DAY).is_err());
        assert!(parse_duration_within("1ns", &METRICS_INTERVAL_BOUNDS).is_err());
        let e = parse_duration_within("soon", &METRICS_INTERVAL_BOUNDS).unwrap_err();
        assert!(e.to_string().ends_with("from 100ms to 1d"), "{e}");
    }

    #[test]
    fn uprobe_libs_are_auto_alone_or_paths() {
        assert_eq!(parse_uprobe_libs("auto").unwrap(), "auto");
        assert_eq!(parse_uprobe_libs(" AUTO ").unwrap(), "AUTO");
        assert!(parse_uprobe_libs("/a/libssl.so.3, /b/libssl.so.1.1").is_ok());
        for bad in ["auto,/a/libssl.so.3", "/a,auto", "", "/a,,/b", "auto,"] {
            let e = parse_uprobe_libs(bad).unwrap_err();
            assert_eq!(e, FormError::UprobeLibs, "{bad}");
            assert!(e.to_string().starts_with("auto ("), "{e}");
        }
    }
}
