//! Reference implementation of the metric formulas (`reference/metric-definitions.md` §1.5,
//! §1.7), in plain Rust over an in-memory list of events.
//!
//! The metrics service computes the same values in SQL and is tested against these functions,
//! so they are written in the most obvious way, user by user, not the fastest one.
//!
//! Shared definitions:
//! - A user's *start instant* is their first-ever `start_event`, over all events given, not
//!   only those in the window.
//! - The *population* (cohort) is the users whose start instant is in `[window_start, window_end)`.
//!   A user whose first start event is before the window is not in it, whatever they did later.
//! - An empty population gives a [`Ratio`] with denominator 0, whose value is undefined.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One thing a user did at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserEvent {
    /// Who did it.
    pub user_id: String,
    /// What they did, e.g. `signup` or `purchase`.
    pub event_name: String,
    /// When.
    pub occurred_at: DateTime<Utc>,
}

/// A share with its counts, so a reader can see how many users it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ratio {
    /// Users who qualify.
    pub numerator: u64,
    /// Users in the population.
    pub denominator: u64,
}

impl Ratio {
    /// `numerator / denominator`, normalized; `None` (undefined, never 0) when the population
    /// is empty.
    pub fn value(&self) -> Option<Decimal> {
        if self.denominator == 0 {
            return None;
        }
        Some((Decimal::from(self.numerator) / Decimal::from(self.denominator)).normalize())
    }
}

/// The population: each user whose first-ever `start_event` is in `[window_start, window_end)`,
/// with that first instant.
pub fn population(
    events: &[UserEvent],
    start_event: &str,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
) -> BTreeMap<String, DateTime<Utc>> {
    let mut first_start: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    for event in events.iter().filter(|e| e.event_name == start_event) {
        first_start
            .entry(event.user_id.clone())
            .and_modify(|first| *first = (*first).min(event.occurred_at))
            .or_insert(event.occurred_at);
    }
    first_start.retain(|_, first| window_start <= *first && *first < window_end);
    first_start
}

/// Each user's events, so that a user's question is answered by looking at their own events.
fn events_by_user(events: &[UserEvent]) -> BTreeMap<&str, Vec<&UserEvent>> {
    let mut by_user: BTreeMap<&str, Vec<&UserEvent>> = BTreeMap::new();
    for event in events {
        by_user
            .entry(event.user_id.as_str())
            .or_default()
            .push(event);
    }
    by_user
}

/// Instants at which the user of `their_events` did `event_name`.
fn instants_of<'a>(
    their_events: &'a [&'a UserEvent],
    event_name: &'a str,
) -> impl Iterator<Item = DateTime<Utc>> + 'a {
    their_events
        .iter()
        .filter(move |e| e.event_name == event_name)
        .map(|e| e.occurred_at)
}

/// Activation rate: the share of the population with an `activation_event` strictly after their
/// first start event and at most `within` after it (`first < t <= first + within`).
///
/// "Strictly after" means a start and an activation at the same instant do not activate; with
/// the same event name for both (a repeat purchase) the first purchase cannot activate itself.
pub fn activation_rate(
    events: &[UserEvent],
    start_event: &str,
    activation_event: &str,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
    within: chrono::Duration,
) -> Ratio {
    let population = population(events, start_event, window_start, window_end);
    // Indexing cannot fail: every member of the population has at least its start event.
    let by_user = events_by_user(events);
    let activated = population
        .iter()
        .filter(|(user_id, first)| {
            let deadline = **first + within;
            instants_of(&by_user[user_id.as_str()], activation_event)
                .any(|t| **first < t && t <= deadline)
        })
        .count();
    Ratio {
        numerator: activated as u64,
        denominator: population.len() as u64,
    }
}

/// Months since year 0 of the calendar month `at` falls in, in `tz`.
fn calendar_month(at: DateTime<Utc>, tz: Tz) -> i64 {
    let local = at.with_timezone(&tz);
    i64::from(local.year()) * 12 + i64::from(local.month0())
}

/// Calendar-month retention ("return on" month N): the share of the population with a
/// `return_event` whose calendar month in `tz` is exactly `months_after` months after the
/// calendar month (in `tz`) of their first start event.
///
/// With `months_after = 0` any return event in the start month counts, including the start
/// event itself when both names are the same (period 0 is the cohort itself).
pub fn calendar_retention(
    events: &[UserEvent],
    start_event: &str,
    return_event: &str,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
    tz: Tz,
    months_after: u32,
) -> Ratio {
    let population = population(events, start_event, window_start, window_end);
    let by_user = events_by_user(events);
    let retained = population
        .iter()
        .filter(|(user_id, first)| {
            let wanted_month = calendar_month(**first, tz) + i64::from(months_after);
            instants_of(&by_user[user_id.as_str()], return_event)
                .any(|t| calendar_month(t, tz) == wanted_month)
        })
        .count();
    Ratio {
        numerator: retained as u64,
        denominator: population.len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn event(user: &str, name: &str, when: &str) -> UserEvent {
        UserEvent {
            user_id: user.to_owned(),
            event_name: name.to_owned(),
            occurred_at: at(when),
        }
    }

    fn dec(s: &str) -> Decimal {
        crate::decimal::parse_decimal(s).unwrap()
    }

    const JAN: &str = "2026-01-01T00:00:00Z";
    const FEB: &str = "2026-02-01T00:00:00Z";

    fn counts(numerator: u64, denominator: u64) -> Ratio {
        Ratio {
            numerator,
            denominator,
        }
    }

    /// `activation_rate` over January 2026 with a 7-day limit, as most cases here use it.
    fn january_activation(events: &[UserEvent], start: &str, activation: &str) -> Ratio {
        activation_rate(
            events,
            start,
            activation,
            at(JAN),
            at(FEB),
            Duration::days(7),
        )
    }

    #[test]
    fn ratio_value_is_undefined_for_an_empty_population() {
        assert_eq!(counts(0, 0).value(), None);
        assert_eq!(counts(0, 4).value(), Some(Decimal::ZERO));
        assert_eq!(counts(3, 4).value(), Some(dec("0.75")));
        assert_eq!(counts(4, 4).value(), Some(Decimal::ONE));
        assert_eq!(
            counts(1, 3).value().unwrap().to_string(),
            "0.3333333333333333333333333333"
        );
    }

    /// Repeat purchase within 7 days, worked by hand:
    /// - a: first purchase Jan 5 10:00, again Jan 12 10:00 = exactly first + 7 days → activated.
    /// - b: two purchases at the same instant Jan 6 09:00 and nothing else → not activated.
    /// - c: first Jan 10, again Jan 17 10:00:01 (one second past 7 days) → not activated.
    /// - d: first purchase Dec 20 (before the window), again Jan 8 → not in the population.
    /// - e: first Jan 31 23:00, again Feb 2 → activated (the repeat may be after the window).
    /// - f: first Feb 1 00:00 → outside the half-open window, not in the population.
    /// - g: only a non-purchase event in the window → not in the population.
    ///
    /// Population {a, b, c, e} = 4, activated {a, e} = 2, rate 0.5.
    #[test]
    fn activation_rate_worked_by_hand() {
        let events = vec![
            event("a", "purchase", "2026-01-05T10:00:00Z"),
            event("a", "purchase", "2026-01-12T10:00:00Z"),
            event("b", "purchase", "2026-01-06T09:00:00Z"),
            event("b", "purchase", "2026-01-06T09:00:00Z"),
            event("c", "purchase", "2026-01-10T10:00:00Z"),
            event("c", "purchase", "2026-01-17T10:00:01Z"),
            event("d", "purchase", "2025-12-20T10:00:00Z"),
            event("d", "purchase", "2026-01-08T10:00:00Z"),
            event("d", "purchase", "2026-01-09T10:00:00Z"),
            event("e", "purchase", "2026-01-31T23:00:00Z"),
            event("e", "purchase", "2026-02-02T08:00:00Z"),
            event("f", "purchase", "2026-02-01T00:00:00Z"),
            event("f", "purchase", "2026-02-01T00:00:01Z"),
            event("g", "page_view", "2026-01-03T00:00:00Z"),
        ];
        let ratio = january_activation(&events, "purchase", "purchase");
        assert_eq!(ratio, counts(2, 4));
        assert_eq!(ratio.value(), Some(dec("0.5")));
    }

    #[test]
    fn activation_uses_the_first_ever_start_event_in_any_order() {
        // Events out of order: the first-ever signup is the earlier one, Jan 2, so the
        // activation on Jan 12 is 10 days later, beyond the 7-day limit; measuring from the
        // later signup (Jan 9) would wrongly activate.
        let events = vec![
            event("a", "activated", "2026-01-12T00:00:00Z"),
            event("a", "signup", "2026-01-09T00:00:00Z"),
            event("a", "signup", "2026-01-02T00:00:00Z"),
        ];
        let ratio = january_activation(&events, "signup", "activated");
        assert_eq!(ratio, counts(0, 1));

        // An activation before the signup does not count.
        let events = vec![
            event("b", "activated", "2026-01-01T00:00:00Z"),
            event("b", "signup", "2026-01-02T00:00:00Z"),
        ];
        let ratio = january_activation(&events, "signup", "activated");
        assert_eq!(ratio, counts(0, 1));

        // Activation events of other users do not count.
        let events = vec![
            event("c", "signup", "2026-01-02T00:00:00Z"),
            event("x", "activated", "2026-01-03T00:00:00Z"),
        ];
        let ratio = january_activation(&events, "signup", "activated");
        assert_eq!(ratio, counts(0, 1));
    }

    #[test]
    fn empty_population_is_undefined() {
        let events = vec![
            // First purchase before the window; later purchases inside it do not make a cohort.
            event("d", "purchase", "2025-12-31T23:59:59Z"),
            event("d", "purchase", "2026-01-02T00:00:00Z"),
            event("d", "purchase", "2026-01-03T00:00:00Z"),
        ];
        let ratio = january_activation(&events, "purchase", "purchase");
        assert_eq!(ratio, counts(0, 0));
        assert_eq!(ratio.value(), None);
        let retention = calendar_retention(
            &events,
            "purchase",
            "purchase",
            at(JAN),
            at(FEB),
            Tz::UTC,
            1,
        );
        assert_eq!(retention.value(), None);
        assert_eq!(
            january_activation(&[], "purchase", "purchase").value(),
            None
        );
    }

    /// Month-1 retention in UTC, worked by hand (window January 2026):
    /// - a: first Jan 3, returns Feb 10 → retained.
    /// - b: first Jan 20, returns Jan 25 and Mar 1 only → not retained in month 1.
    /// - c: first Jan 31, returns Feb 1 (one day later but the next calendar month) → retained.
    /// - d: first Dec 15 (before the window), returns Jan 15 → not in the population.
    ///
    /// Population {a, b, c} = 3, retained {a, c} = 2.
    #[test]
    fn calendar_retention_worked_by_hand() {
        let events = vec![
            event("a", "signup", "2026-01-03T12:00:00Z"),
            event("a", "login", "2026-02-10T12:00:00Z"),
            event("b", "signup", "2026-01-20T12:00:00Z"),
            event("b", "login", "2026-01-25T12:00:00Z"),
            event("b", "login", "2026-03-01T12:00:00Z"),
            event("c", "signup", "2026-01-31T12:00:00Z"),
            event("c", "login", "2026-02-01T12:00:00Z"),
            event("d", "signup", "2025-12-15T12:00:00Z"),
            event("d", "login", "2026-01-15T12:00:00Z"),
        ];
        let month_1 = calendar_retention(&events, "signup", "login", at(JAN), at(FEB), Tz::UTC, 1);
        assert_eq!(month_1, counts(2, 3));
        // Month 0: only b logged in in January.
        let month_0 = calendar_retention(&events, "signup", "login", at(JAN), at(FEB), Tz::UTC, 0);
        assert_eq!(month_0, counts(1, 3));
        // Month 2: only b, on March 1.
        let month_2 = calendar_retention(&events, "signup", "login", at(JAN), at(FEB), Tz::UTC, 2);
        assert_eq!(month_2, counts(1, 3));
        // Month 13 wraps the year correctly and nobody is there.
        let month_13 =
            calendar_retention(&events, "signup", "login", at(JAN), at(FEB), Tz::UTC, 13);
        assert_eq!(month_13, counts(0, 3));
    }

    #[test]
    fn retention_crosses_the_year_boundary() {
        let events = vec![
            event("a", "signup", "2025-12-10T00:00:00Z"),
            event("a", "login", "2026-01-10T00:00:00Z"),
        ];
        let window = (at("2025-12-01T00:00:00Z"), at(JAN));
        let ratio = calendar_retention(&events, "signup", "login", window.0, window.1, Tz::UTC, 1);
        assert_eq!(ratio, counts(1, 1));
    }

    /// The signup at 2026-01-31T16:00Z is in January in UTC but on February 1 (01:00) in
    /// Asia/Tokyo (UTC+9); the login on 2026-02-20 is in February in both. So the login is in
    /// month 1 in UTC and in month 0 in Tokyo.
    #[test]
    fn month_boundary_follows_the_time_zone() {
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        let events = vec![
            event("a", "signup", "2026-01-31T16:00:00Z"),
            event("a", "login", "2026-02-20T00:00:00Z"),
        ];
        let window = (at(JAN), at("2026-03-01T00:00:00Z"));
        let utc = calendar_retention(&events, "signup", "login", window.0, window.1, Tz::UTC, 1);
        assert_eq!(utc, counts(1, 1));
        let in_tokyo = calendar_retention(&events, "signup", "login", window.0, window.1, tokyo, 1);
        assert_eq!(in_tokyo, counts(0, 1));
        let in_tokyo_month_0 =
            calendar_retention(&events, "signup", "login", window.0, window.1, tokyo, 0);
        assert_eq!(in_tokyo_month_0, counts(1, 1));

        // West of UTC: a login at 2026-03-01T03:00Z is still February in New York.
        let new_york: Tz = "America/New_York".parse().unwrap();
        let events = vec![
            event("b", "signup", "2026-01-15T12:00:00Z"),
            event("b", "login", "2026-03-01T03:00:00Z"),
        ];
        let utc = calendar_retention(&events, "signup", "login", window.0, window.1, Tz::UTC, 1);
        assert_eq!(utc, counts(0, 1));
        let in_new_york =
            calendar_retention(&events, "signup", "login", window.0, window.1, new_york, 1);
        assert_eq!(in_new_york, counts(1, 1));
    }

    #[test]
    fn population_takes_the_first_ever_start() {
        let events = vec![
            event("a", "signup", "2026-01-10T00:00:00Z"),
            event("a", "signup", "2026-01-05T00:00:00Z"),
            event("b", "signup", "2026-02-01T00:00:00Z"),
            event("c", "signup", "2026-01-31T23:59:59Z"),
        ];
        let population = population(&events, "signup", at(JAN), at(FEB));
        assert_eq!(
            population.into_iter().collect::<Vec<_>>(),
            vec![
                ("a".to_owned(), at("2026-01-05T00:00:00Z")),
                ("c".to_owned(), at("2026-01-31T23:59:59Z")),
            ]
        );
    }
}
