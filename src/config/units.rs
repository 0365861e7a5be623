//! Durations (`250ms`, `1.5s`, `2m`) and sizes (`64KiB`, `10MB`, `4096`) as written in
//! tend.toml(5). Pure functions over strings; the messages name the input and say what
//! was expected, and the caller adds file, line and key.
//!
//! Both take a decimal number (digits, optionally `.` and more digits) followed directly by
//! a unit: no sign, no exponent, no whitespace anywhere. Arithmetic is done in integers, so
//! `1.1s` is exactly 1.1 seconds; digits finer than the unit's resolution (a nanosecond, a
//! byte) are dropped.

use std::time::Duration;

/// The largest duration accepted: 2^32-1 seconds (about 136 years). Anything larger is a
/// typo, and keeping well inside `Instant`'s range means `now + d` cannot overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(u32::MAX as u64);

/// Duration units and their length in nanoseconds.
const DURATION_UNITS: [(&str, u128); 6] = [
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60 * 1_000_000_000),
    ("h", 3600 * 1_000_000_000),
];

/// Size units (matched ignoring ASCII case) and their multipliers: the `i` forms and the
/// bare letters are powers of 1024, the `B` forms powers of 1000.
const SIZE_UNITS: [(&str, u128); 14] = [
    ("", 1),
    ("b", 1),
    ("k", 1 << 10),
    ("kib", 1 << 10),
    ("kb", 1_000),
    ("m", 1 << 20),
    ("mib", 1 << 20),
    ("mb", 1_000_000),
    ("g", 1 << 30),
    ("gib", 1 << 30),
    ("gb", 1_000_000_000),
    ("t", 1 << 40),
    ("tib", 1 << 40),
    ("tb", 1_000_000_000_000),
];

/// Parse a duration: a number followed by `ns`, `us`, `ms`, `s`, `m` or `h` (`250ms`,
/// `1.5s`, `2m`, `1h`), or a bare `0`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration \"{s}\": expected a number followed by ns, us, ms, s, m or h, \
             such as \"250ms\" or \"1.5s\""
        )
    };
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let (int, frac, unit) = split_number(s).ok_or_else(bad)?;
    let per_unit = DURATION_UNITS.iter().find(|(u, _)| *u == unit).map(|&(_, n)| n).ok_or_else(bad)?;
    let too_large = || format!("invalid duration \"{s}\": too large (at most {}s)", MAX_DURATION.as_secs());
    let nanos = scale(int, frac, per_unit).ok_or_else(too_large)?;
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| too_large())?;
    let sub = u32::try_from(nanos % 1_000_000_000).map_err(|_| too_large())?;
    let d = Duration::new(secs, sub);
    if d > MAX_DURATION {
        return Err(too_large());
    }
    Ok(d)
}

/// Parse a size in bytes: a number with an optional unit. `KiB`, `MiB`, `GiB`, `TiB` and the
/// bare `K`, `M`, `G`, `T` are powers of 1024; `kB`, `MB`, `GB`, `TB` are powers of 1000;
/// `B` or no unit is bytes. Units ignore case. A fraction needs a unit larger than a byte
/// (`1.5GiB`), and the result is rounded down to a whole byte.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "invalid size \"{s}\": expected a number of bytes, optionally followed by a unit \
             (B, KiB, MiB, GiB, TiB or K, M, G, T for powers of 1024; kB, MB, GB, TB for powers of 1000)"
        )
    };
    let (int, frac, unit) = split_number(s).ok_or_else(bad)?;
    let mult = size_unit(unit).ok_or_else(bad)?;
    if !frac.is_empty() && mult == 1 {
        return Err(format!("invalid size \"{s}\": a number of bytes must be a whole number"));
    }
    let too_large = || format!("invalid size \"{s}\": too large (at most {} bytes)", u64::MAX);
    let bytes = scale(int, frac, mult).ok_or_else(too_large)?;
    u64::try_from(bytes).map_err(|_| too_large())
}

fn size_unit(unit: &str) -> Option<u128> {
    let lower = unit.to_ascii_lowercase();
    SIZE_UNITS.iter().find(|(u, _)| *u == lower).map(|&(_, n)| n)
}

/// Split `12.5ms` into (`12`, `5`, `ms`). The integer part must have at least one digit;
/// a `.` must be followed by at least one digit. Returns None for anything else.
fn split_number(s: &str) -> Option<(&str, &str, &str)> {
    let int_end = s.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(s.len());
    if int_end == 0 {
        return None;
    }
    let (int, rest) = s.split_at(int_end);
    let Some(after_dot) = rest.strip_prefix('.') else {
        return Some((int, "", rest));
    };
    let frac_end = after_dot.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(after_dot.len());
    if frac_end == 0 {
        return None;
    }
    let (frac, unit) = after_dot.split_at(frac_end);
    Some((int, frac, unit))
}

/// `int.frac * mult`, rounded down, or None on overflow of u128.
fn scale(int: &str, frac: &str, mult: u128) -> Option<u128> {
    let mut whole: u128 = 0;
    for b in int.bytes() {
        whole = whole.checked_mul(10)?.checked_add(u128::from(b - b'0'))?;
    }
    let whole = whole.checked_mul(mult)?;
    // Digits past the 18th cannot matter: the largest multiplier is below 10^13, so
    // 10^-18 of it is below one unit of resolution. Keeping 18 keeps `f * mult` in u128.
    let frac = &frac[..frac.len().min(18)];
    let mut f: u128 = 0;
    let mut denom: u128 = 1;
    for b in frac.bytes() {
        f = f * 10 + u128::from(b - b'0');
        denom *= 10;
    }
    whole.checked_add(f * mult / denom)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(ms(250)));
        assert_eq!(parse_duration("10s"), Ok(ms(10_000)));
        assert_eq!(parse_duration("2m"), Ok(ms(120_000)));
        assert_eq!(parse_duration("1h"), Ok(ms(3_600_000)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration("0.1s"), Ok(ms(100)));
        assert_eq!(parse_duration("1.1s"), Ok(Duration::new(1, 100_000_000)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0ms"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("500us"), Ok(Duration::from_micros(500)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration("1.5ns"), Ok(Duration::from_nanos(1)));
        assert_eq!(parse_duration("0.25h"), Ok(ms(900_000)));
        assert_eq!(parse_duration("1.0000000001s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("4294967295s"), Ok(MAX_DURATION));
    }

    #[test]
    fn bad_durations() {
        let e = parse_duration("10x").unwrap_err();
        assert!(e.starts_with("invalid duration \"10x\": expected a number followed by ns, us, ms, s, m or h"), "{e}");
        for s in [
            "", "10", "s", "-1s", "+1s", "1 s", " 1s", "1s ", ".5s", "5.s", "1.2.3s", "1e3ms", "1S", "1sec", "1m30s",
            "٣s",
        ] {
            assert!(parse_duration(s).is_err(), "{s:?} should be rejected");
        }
        let e = parse_duration("4294967296s").unwrap_err();
        assert!(e.contains("too large"), "{e}");
        assert!(parse_duration("99999999999999999999999999999999999999999999h").unwrap_err().contains("too large"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("512B"), Ok(512));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("64KiB"), Ok(64 * 1024));
        assert_eq!(parse_size("64K"), Ok(64 * 1024));
        assert_eq!(parse_size("64k"), Ok(64 * 1024));
        assert_eq!(parse_size("10kB"), Ok(10_000));
        assert_eq!(parse_size("10KB"), Ok(10_000));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("3MB"), Ok(3_000_000));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("1TiB"), Ok(1 << 40));
        assert_eq!(parse_size("1TB"), Ok(1_000_000_000_000));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("0.5M"), Ok(1 << 19));
        assert_eq!(parse_size("1.0001K"), Ok(1024));
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn bad_sizes() {
        let e = parse_size("10x").unwrap_err();
        assert!(e.starts_with("invalid size \"10x\": expected a number of bytes"), "{e}");
        for s in ["", "K", "-1", "1 KiB", " 1", "1.5", "1.5B", "1e3", "1KiBs", "1PB", ".5K", "1.K"] {
            assert!(parse_size(s).is_err(), "{s:?} should be rejected");
        }
        assert!(parse_size("18446744073709551616").unwrap_err().contains("too large"));
        assert!(parse_size("16777216TiB").unwrap_err().contains("too large"));
        assert!(parse_size("99999999999999999999999999999999999999999G").unwrap_err().contains("too large"));
        assert!(parse_size("1.5B").unwrap_err().contains("whole number"));
    }
}
