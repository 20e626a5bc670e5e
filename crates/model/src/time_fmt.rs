//! Timestamps as Mastodon writes them: RFC 3339 in UTC with milliseconds.

use time::OffsetDateTime;

pub fn now_millis() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// `2019-12-08T03:48:33.901Z`
pub fn rfc3339_millis(unix_ms: i64) -> String {
    let t =
        OffsetDateTime::from_unix_timestamp_nanos(unix_ms as i128 * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// `2019-12-08` — Mastodon's `last_status_at` is a date.
pub fn date_only(unix_ms: i64) -> String {
    rfc3339_millis(unix_ms)[..10].to_string()
}

/// Parses an RFC 3339 timestamp back to Unix milliseconds.
pub fn parse_rfc3339_millis(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_like_mastodon() {
        assert_eq!(super::rfc3339_millis(1_575_776_913_901), "2019-12-08T03:48:33.901Z");
        assert_eq!(super::date_only(1_575_776_913_901), "2019-12-08");
        assert_eq!(super::parse_rfc3339_millis("2019-12-08T03:48:33.901Z"), Some(1_575_776_913_901));
    }
}
