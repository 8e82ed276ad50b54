use super::*;

fn rule(id: &str) -> LifecycleRule {
    LifecycleRule {
        id: id.into(),
        enabled: true,
        filter: LifecycleFilter::default(),
        expiration: Some(Expiration::Days(1)),
        noncurrent_expiration: None,
        abort_incomplete_upload_days: None,
    }
}

fn config(rules: Vec<LifecycleRule>) -> LifecycleConfiguration {
    LifecycleConfiguration { rules }
}

/// A short day of 1,000 ms: no midnight rounding.
const CLOCK: LifecycleClock = LifecycleClock { day_ms: 1000 };

fn v<'a>(id: &'a str, seq: u64, marker: bool, at: i64, tags: &'a [(String, String)]) -> VersionFacts<'a> {
    VersionFacts {
        version_id: id,
        seq,
        delete_marker: marker,
        last_modified_ms: at,
        size: 10,
        tags,
    }
}

#[test]
fn validation_refuses_what_s3_refuses() {
    assert!(config(vec![rule("a")]).validate().is_ok());
    assert!(matches!(
        config(vec![]).validate(),
        Err(LifecycleError::MalformedXml(_))
    ));
    assert!(matches!(
        config(vec![rule("a"), rule("a")]).validate(),
        Err(LifecycleError::InvalidArgument(m)) if m.contains("unique")
    ));
    let mut r = rule("a");
    r.expiration = None;
    assert!(matches!(
        config(vec![r]).validate(),
        Err(LifecycleError::InvalidRequest(_))
    ));
    let mut r = rule("a");
    r.expiration = Some(Expiration::Days(0));
    assert!(matches!(config(vec![r]).validate(), Err(LifecycleError::InvalidArgument(m)) if m.contains("positive")));
    let mut r = rule("a");
    r.expiration = Some(Expiration::Date(DAY_MS * 20_000 + 1));
    assert!(matches!(config(vec![r]).validate(), Err(LifecycleError::InvalidArgument(m)) if m.contains("midnight")));
    let mut r = rule("a");
    r.expiration = Some(Expiration::ExpiredObjectDeleteMarker);
    r.filter.tags = vec![("k".into(), "v".into())];
    assert!(config(vec![r]).validate().is_err());
    let mut r = rule("a");
    r.abort_incomplete_upload_days = Some(1);
    r.filter.tags = vec![("k".into(), "v".into())];
    assert!(matches!(
        config(vec![r]).validate(),
        Err(LifecycleError::InvalidRequest(_))
    ));
    let mut r = rule("a");
    r.filter.size_greater_than = Some(10);
    r.filter.size_less_than = Some(10);
    assert!(config(vec![r]).validate().is_err());
    let mut r = rule("a");
    r.noncurrent_expiration = Some(NoncurrentExpiration {
        days: 1,
        newer_versions: Some(101),
    });
    assert!(config(vec![r]).validate().is_err());
    let mut r = rule("a");
    r.filter.tags = vec![("k".into(), "1".into()), ("k".into(), "2".into())];
    assert!(config(vec![r]).validate().is_err());
    let rules = (0..=MAX_RULES).map(|i| rule(&i.to_string())).collect();
    assert!(matches!(config(rules).validate(), Err(LifecycleError::MalformedXml(_))));
}

#[test]
fn a_real_day_rounds_up_to_midnight_and_a_short_one_does_not() {
    let real = LifecycleClock::default();
    // 2026-01-01T10:00Z + 1 day = 2026-01-02T10:00Z, rounded to 2026-01-03T00:00Z.
    let jan1_10h = 1_767_261_600_000;
    assert_eq!(real.after(jan1_10h, 1), 1_767_398_400_000);
    // Already at midnight: stays.
    assert_eq!(real.after(1_767_225_600_000, 1), 1_767_312_000_000);
    assert_eq!(CLOCK.after(5_500, 2), 7_500);
}

#[test]
fn current_version_expires_after_its_days_only_when_selected() {
    let mut r = rule("logs");
    r.filter.prefix = "logs/".into();
    r.filter.tags = vec![("class".into(), "tmp".into())];
    r.filter.size_less_than = Some(100);
    let cfg = config(vec![r]);
    let tmp = vec![("class".to_string(), "tmp".to_string())];
    let other = vec![("class".to_string(), "keep".to_string())];
    let now = 10_000;
    assert_eq!(
        expired(&cfg, CLOCK, "logs/a", &[v("null", 7, false, 8_000, &tmp)], now),
        vec![Expire::Current { seq: 7 }]
    );
    // Too young, other prefix, other tags, too big.
    assert!(expired(&cfg, CLOCK, "logs/a", &[v("null", 7, false, 9_500, &tmp)], now).is_empty());
    assert!(expired(&cfg, CLOCK, "data/a", &[v("null", 7, false, 8_000, &tmp)], now).is_empty());
    assert!(expired(&cfg, CLOCK, "logs/a", &[v("null", 7, false, 8_000, &other)], now).is_empty());
    let mut big = v("null", 7, false, 8_000, &tmp);
    big.size = 100;
    assert!(expired(&cfg, CLOCK, "logs/a", &[big], now).is_empty());
    // A disabled rule does nothing.
    let mut off = cfg.clone();
    off.rules[0].enabled = false;
    assert!(expired(&off, CLOCK, "logs/a", &[v("null", 7, false, 8_000, &tmp)], now).is_empty());
}

#[test]
fn date_expiration_applies_from_the_date_on() {
    let mut r = rule("d");
    r.expiration = Some(Expiration::Date(2 * DAY_MS));
    let cfg = config(vec![r]);
    assert!(expired(&cfg, CLOCK, "k", &[v("null", 1, false, 0, &[])], 2 * DAY_MS - 1).is_empty());
    assert_eq!(
        expired(&cfg, CLOCK, "k", &[v("null", 1, false, 0, &[])], 2 * DAY_MS),
        vec![Expire::Current { seq: 1 }]
    );
}

#[test]
fn noncurrent_versions_count_from_when_they_were_replaced_and_keep_the_newest() {
    let mut r = rule("nc");
    r.expiration = None;
    r.noncurrent_expiration = Some(NoncurrentExpiration {
        days: 2,
        newer_versions: Some(1),
    });
    let cfg = config(vec![r]);
    // Newest first: current (t=9000), v3 replaced at 9000, v2 replaced at
    // 5000, v1 replaced at 3000.
    let versions = [
        v("v4", 4, false, 9_000, &[]),
        v("v3", 3, false, 5_000, &[]),
        v("v2", 2, false, 3_000, &[]),
        v("v1", 1, false, 1_000, &[]),
    ];
    // At 10,000: v3 (rank 1) is kept by NewerNoncurrentVersions=1; v2 was
    // replaced at 5,000 (+2 days = 7,000: expired); v1 at 3,000: expired.
    assert_eq!(
        expired(&cfg, CLOCK, "k", &versions, 10_000),
        vec![
            Expire::Noncurrent {
                version_id: "v2".into(),
                seq: 2
            },
            Expire::Noncurrent {
                version_id: "v1".into(),
                seq: 1
            },
        ]
    );
    // At 6,999 only v1 is old enough.
    assert_eq!(expired(&cfg, CLOCK, "k", &versions, 6_999).len(), 1);
    // The current version is never touched by a noncurrent rule.
    assert!(expired(&cfg, CLOCK, "k", &versions[..1], 1_000_000).is_empty());
}

#[test]
fn a_delete_marker_expires_only_once_nothing_is_under_it() {
    let mut r = rule("dm");
    r.expiration = Some(Expiration::ExpiredObjectDeleteMarker);
    r.noncurrent_expiration = Some(NoncurrentExpiration {
        days: 1,
        newer_versions: None,
    });
    let cfg = config(vec![r]);
    let marker_alone = [v("dm", 5, true, 4_000, &[])];
    assert_eq!(
        expired(&cfg, CLOCK, "k", &marker_alone, 4_001),
        vec![Expire::DeleteMarker {
            version_id: "dm".into(),
            seq: 5
        }]
    );
    // A version under it that does not expire yet keeps the marker.
    let with_young = [v("dm", 5, true, 4_000, &[]), v("v1", 1, false, 1_000, &[])];
    assert!(expired(&cfg, CLOCK, "k", &with_young, 4_500).is_empty());
    // The version under it expiring in the same pass frees the marker.
    assert_eq!(
        expired(&cfg, CLOCK, "k", &with_young, 5_000),
        vec![
            Expire::Noncurrent {
                version_id: "v1".into(),
                seq: 1
            },
            Expire::DeleteMarker {
                version_id: "dm".into(),
                seq: 5
            },
        ]
    );
    // With Days, the marker must be that old itself; with a Date, the
    // date must have come.
    let mut by_days = cfg.clone();
    by_days.rules[0].expiration = Some(Expiration::Days(2));
    assert!(expired(&by_days, CLOCK, "k", &marker_alone, 5_999).is_empty());
    assert_eq!(expired(&by_days, CLOCK, "k", &marker_alone, 6_000).len(), 1);
    let mut by_date = cfg.clone();
    by_date.rules[0].expiration = Some(Expiration::Date(DAY_MS));
    assert!(expired(&by_date, CLOCK, "k", &marker_alone, DAY_MS - 1).is_empty());
    assert_eq!(expired(&by_date, CLOCK, "k", &marker_alone, DAY_MS).len(), 1);
    // A rule with no expiration of current versions leaves markers alone.
    let mut only_nc = cfg.clone();
    only_nc.rules[0].expiration = None;
    assert!(expired(&only_nc, CLOCK, "k", &marker_alone, 1_000_000).is_empty());
}

#[test]
fn uploads_are_aborted_after_their_days_under_the_prefix() {
    let mut r = rule("mpu");
    r.expiration = None;
    r.abort_incomplete_upload_days = Some(3);
    r.filter.prefix = "tmp/".into();
    let cfg = config(vec![r]);
    assert!(upload_expired(&cfg, CLOCK, "tmp/a", 1_000, 4_000));
    assert!(!upload_expired(&cfg, CLOCK, "tmp/a", 1_000, 3_999));
    assert!(!upload_expired(&cfg, CLOCK, "keep/a", 1_000, 1_000_000));
}
