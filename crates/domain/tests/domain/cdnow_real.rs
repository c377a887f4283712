//! The real CDNOW file, checked against the facts in `/work/shared/data/README.md`.
//! Skipped when the file is not on this machine.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use devokr_domain::cdnow::{self, purchase_events};
use devokr_domain::metric_reference::activation_rate;

const CDNOW_MASTER: &str = "/work/shared/data/cdnow/CDNOW_master.txt";

#[test]
fn real_file_matches_the_published_facts() {
    let Ok(text) = std::fs::read_to_string(CDNOW_MASTER) else {
        eprintln!("skipped: {CDNOW_MASTER} is not available");
        return;
    };
    let (purchases, errors) = cdnow::parse(&text);
    assert_eq!(errors, vec![], "the real file has no bad rows");
    assert_eq!(purchases.len(), 69_659);
    assert_eq!(purchases.first().map(|p| p.line), Some(2));
    assert_eq!(purchases.last().map(|p| p.line), Some(69_660));

    let mut first_purchase: BTreeMap<&str, NaiveDate> = BTreeMap::new();
    for purchase in &purchases {
        first_purchase
            .entry(purchase.customer_id.as_str())
            .and_modify(|first| *first = (*first).min(purchase.date))
            .or_insert(purchase.date);
    }
    assert_eq!(first_purchase.len(), 23_570);
    let date = |s: &str| s.parse::<NaiveDate>().unwrap();
    assert_eq!(first_purchase.values().min(), Some(&date("1997-01-01")));
    assert_eq!(first_purchase.values().max(), Some(&date("1997-03-25")));

    let mut rows_per_customer_day: HashMap<(&str, NaiveDate), usize> = HashMap::new();
    for purchase in &purchases {
        *rows_per_customer_day
            .entry((purchase.customer_id.as_str(), purchase.date))
            .or_default() += 1;
    }
    let days_with_several_rows = rows_per_customer_day.values().filter(|&&n| n > 1).count();
    assert_eq!(days_with_several_rows, 1_774);

    let keys: HashSet<&str> = purchases
        .iter()
        .map(|p| p.idempotency_key.as_str())
        .collect();
    assert_eq!(keys.len(), purchases.len(), "idempotency keys are distinct");
    // Parsing again gives the same keys, so a replayed import adds nothing.
    let (again, _) = cdnow::parse(&text);
    assert!(
        again
            .iter()
            .zip(&purchases)
            .all(|(a, b)| a.idempotency_key == b.idempotency_key)
    );

    // Every customer's first purchase is in Q1 1997, so that is the whole population.
    let events = purchase_events(&purchases);
    let instant = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    let repeat_within_30_days = activation_rate(
        &events,
        "purchase",
        "purchase",
        instant("1997-01-01T00:00:00Z"),
        instant("1997-04-01T00:00:00Z"),
        chrono::Duration::days(30),
    );
    assert_eq!(repeat_within_30_days.denominator, 23_570);
    assert!(repeat_within_30_days.numerator > 0);
    assert!(repeat_within_30_days.numerator < repeat_within_30_days.denominator);
}
