//! RFC 3339 UTC timestamps with microseconds, without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Civil date from days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
fn days(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-11-22T15:52:01.123456Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    rfc3339_us(d.as_secs() * 1_000_000 + u64::from(d.subsec_micros()))
}

/// [`rfc3339`] of a time in microseconds since the epoch.
pub fn rfc3339_us(us: u64) -> String {
    let secs = (us / 1_000_000) as i64;
    let (y, mo, da) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}-{mo:02}-{da:02}T{:02}:{:02}:{:02}.{:06}Z", s / 3600, s % 3600 / 60, s % 60, us % 1_000_000)
}

/// Now, in microseconds since the epoch.
pub fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// Parse an RFC 3339 time: `YYYY-MM-DDTHH:MM:SS`, an optional fraction (up to
/// nanoseconds; kept to microseconds), then `Z` or an offset `+HH:MM`/`-HH:MM`. `t`
/// may be a space or lower case, as RFC 3339 allows. Returns µs since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let d = b.get(r)?;
        if d.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(d).ok()?.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d, h, mi, sec) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut micros = 0u64;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s[start..i];
        if digits.is_empty() || digits.len() > 9 {
            return None;
        }
        let six: String = digits.chars().chain(std::iter::repeat('0')).take(6).collect();
        micros = six.parse().ok()?;
    }
    let offset: i64 = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let _ = (h1, h2, m1, m2);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = i64::from(oh * 3600 + om * 60);
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let secs = days(i64::from(y), mo, d) * 86_400 + i64::from(h * 3600 + mi * 60 + sec) - offset;
    u64::try_from(secs).ok().map(|s| s * 1_000_000 + micros)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        let t = UNIX_EPOCH + Duration::from_micros(1_795_362_721_123_456);
        assert_eq!(rfc3339(t), "2026-11-22T15:52:01.123456Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&rfc3339(leap)[..10], "2000-02-29");
        assert_eq!(rfc3339_us(1_795_362_721_123_456), "2026-11-22T15:52:01.123456Z");
    }

    #[test]
    fn parses_what_it_formats_and_offsets() {
        for us in [0, 951_782_400_000_001, 1_795_362_721_123_456] {
            assert_eq!(parse_rfc3339(&rfc3339_us(us)), Some(us));
        }
        let t = 1_795_362_721_000_000;
        assert_eq!(parse_rfc3339("2026-11-22T15:52:01Z"), Some(t));
        assert_eq!(parse_rfc3339("2026-11-22t15:52:01z"), Some(t));
        assert_eq!(parse_rfc3339("2026-11-22 16:52:01+01:00"), Some(t));
        assert_eq!(parse_rfc3339("2026-11-22T14:52:01.5-01:00"), Some(t + 500_000));
        assert_eq!(parse_rfc3339("2026-11-22T15:52:01.123456789Z"), Some(t + 123_456));
        for bad in [
            "",
            "2026-11-22",
            "2026-11-22T15:52:01",
            "2026-13-01T00:00:00Z",
            "2026-11-22T15:52:01.Z",
            "2026-11-22T15:52:01+0100",
            "1969-12-31T23:59:59Z",
            "2026-11-22T15:52:01Zjunk",
            "２026-11-22T15:52:01Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }
}
