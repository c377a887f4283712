//! Parser of the CDNOW purchase file (`CDNOW_master.txt`, Fader & Hardie), real data used for
//! demos and tests.
//!
//! Whitespace separated, one header line ` customer_id  date number_of_cds  dollar_value`, then
//! rows like ` 00001 19970101  1   11.77` (CRLF line ends in the shipped file). A bad row is
//! reported with its line number and the rest of the file is still read.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use crate::calendar::{Granularity, WeekStart, bucket_range};
use crate::cycle::Cycle;
use crate::decimal::parse_decimal;
use crate::metric_reference::UserEvent;
use rust_decimal::Decimal;

/// The column names of the header, in order.
pub const HEADER: [&str; 4] = ["customer_id", "date", "number_of_cds", "dollar_value"];

/// Event name of a purchase in [`purchase_events`].
pub const PURCHASE_EVENT: &str = "purchase";

/// One purchase row.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Purchase {
    /// 1-based line number in the file.
    pub line: usize,
    /// The customer id as written, e.g. `00001`.
    pub customer_id: String,
    /// Day of the purchase (no time of day in the data).
    pub date: NaiveDate,
    /// CDs bought.
    pub number_of_cds: u32,
    /// Amount paid in dollars.
    pub dollar_value: Decimal,
    /// `cdnow:{customer_id}:{yyyymmdd}:{n}`, where `n` is the 1-based ordinal of this row among
    /// the rows of the same customer and date in file order. Two rows on the same day are two
    /// real purchases, so the ordinal keeps them apart while replaying the file gives the same
    /// keys.
    pub idempotency_key: String,
}

/// A line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct RowError {
    /// 1-based line number in the file.
    pub line: usize,
    /// What is wrong, naming the field and its value.
    pub message: String,
}

struct Row {
    customer_id: String,
    date: NaiveDate,
    number_of_cds: u32,
    dollar_value: Decimal,
}

/// Parses the whole file: the purchases that could be read, and an error for each line that
/// could not.
///
/// The first non-empty line must be the header. If it is not, that is reported; if it is a
/// valid data row (a file without a header) it is also kept as a purchase. Blank lines are
/// skipped.
pub fn parse(text: &str) -> (Vec<Purchase>, Vec<RowError>) {
    let mut purchases = Vec::new();
    let mut errors = Vec::new();
    let mut rows_per_customer_day: HashMap<(String, NaiveDate), u32> = HashMap::new();
    let mut header_seen = false;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);

    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let parsed = if header_seen {
            parse_row(line)
        } else {
            header_seen = true;
            if is_header(line) {
                continue;
            }
            let header_error = format!(
                "expected the header \"{}\", got \"{}\"",
                HEADER.join(" "),
                line.trim()
            );
            // Keep a data row that stands where the header should be; a line that is neither
            // gets only the header error.
            match parse_row(line) {
                Ok(row) => {
                    errors.push(RowError {
                        line: line_number,
                        message: header_error,
                    });
                    Ok(row)
                }
                Err(_) => Err(header_error),
            }
        };
        match parsed {
            Ok(row) => {
                let ordinal = rows_per_customer_day
                    .entry((row.customer_id.clone(), row.date))
                    .or_insert(0);
                *ordinal += 1;
                let idempotency_key = format!(
                    "cdnow:{}:{}:{}",
                    row.customer_id,
                    row.date.format("%Y%m%d"),
                    ordinal
                );
                purchases.push(Purchase {
                    line: line_number,
                    customer_id: row.customer_id,
                    date: row.date,
                    number_of_cds: row.number_of_cds,
                    dollar_value: row.dollar_value,
                    idempotency_key,
                });
            }
            Err(message) => errors.push(RowError {
                line: line_number,
                message,
            }),
        }
    }
    (purchases, errors)
}

fn is_header(line: &str) -> bool {
    line.split_whitespace().eq(HEADER)
}

fn parse_row(line: &str) -> Result<Row, String> {
    let mut fields = line.split_whitespace();
    let mut next_field = |name: &str| {
        fields.next().ok_or_else(|| {
            format!(
                "missing field {name} (expected {} separated by spaces)",
                HEADER.join(", ")
            )
        })
    };
    let customer_id = next_field("customer_id")?;
    let date = next_field("date")?;
    let number_of_cds = next_field("number_of_cds")?;
    let dollar_value = next_field("dollar_value")?;
    if let Some(extra) = fields.next() {
        return Err(format!(
            "unexpected extra field \"{extra}\" after dollar_value"
        ));
    }

    if !customer_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("customer_id \"{customer_id}\" is not a number"));
    }
    // Checked for exactly 8 digits first: chrono's %Y alone would also take signs and 5-digit years.
    let date_value = Some(date)
        .filter(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y%m%d").ok())
        .ok_or_else(|| format!("date \"{date}\" is not a valid YYYYMMDD date"))?;
    let number_of_cds_value = Some(number_of_cds)
        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse::<u32>().ok())
        .ok_or_else(|| {
            format!("number_of_cds \"{number_of_cds}\" is not a whole number of zero or more")
        })?;
    let dollar_value_value = parse_decimal(dollar_value)
        .map_err(|_| format!("dollar_value \"{dollar_value}\" is not a plain decimal number"))?;
    if dollar_value_value < Decimal::ZERO {
        return Err(format!("dollar_value \"{dollar_value}\" is negative"));
    }
    Ok(Row {
        customer_id: customer_id.to_owned(),
        date: date_value,
        number_of_cds: number_of_cds_value,
        dollar_value: dollar_value_value,
    })
}

impl Purchase {
    /// When the purchase happened: the file has dates only, so 00:00 UTC of its date.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        self.date.and_time(NaiveTime::MIN).and_utc()
    }
}

/// Each purchase as a [`PURCHASE_EVENT`] event of its customer at [`Purchase::occurred_at`].
pub fn purchase_events(purchases: &[Purchase]) -> Vec<UserEvent> {
    purchases
        .iter()
        .map(|purchase| UserEvent {
            user_id: purchase.customer_id.clone(),
            event_name: PURCHASE_EVENT.to_owned(),
            occurred_at: purchase.occurred_at(),
        })
        .collect()
}

/// The orders of one calendar week, clipped to a cycle: `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeekOfOrders {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Purchase rows in the week.
    pub orders: u64,
    /// Dollars paid in the week.
    pub revenue: Decimal,
}

impl WeekOfOrders {
    /// Dollars per order; `None` for a week without orders.
    pub fn average_order_value(&self) -> Option<Decimal> {
        (self.orders > 0).then(|| self.revenue / Decimal::from(self.orders))
    }
}

/// The purchases of `cycle`, week by week in its zone, the first and last week clipped to the
/// cycle's bounds. Every week of the cycle is listed, also one without orders.
pub fn weekly_orders(
    purchases: &[Purchase],
    cycle: &Cycle,
    week_start: WeekStart,
) -> Vec<WeekOfOrders> {
    let granularity = Granularity::Week(week_start);
    let (cycle_start, cycle_end) = (cycle.start_time(), cycle.end_time());
    let mut weeks = Vec::new();
    let mut at = cycle_start;
    while at < cycle_end {
        let (_, week_end) = bucket_range(at, granularity, cycle.time_zone());
        let end = week_end.min(cycle_end);
        weeks.push(WeekOfOrders {
            start: at,
            end,
            orders: 0,
            revenue: Decimal::ZERO,
        });
        at = end;
    }
    for purchase in purchases {
        let occurred_at = purchase.occurred_at();
        // Weeks are sorted and tile the cycle, so the week is the last one starting by then.
        let index = weeks.partition_point(|week| week.start <= occurred_at);
        if let Some(week) = index.checked_sub(1).map(|index| &mut weeks[index])
            && occurred_at < week.end
        {
            week.orders += 1;
            week.revenue += purchase.dollar_value;
        }
    }
    weeks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn dec(s: &str) -> Decimal {
        parse_decimal(s).unwrap()
    }

    #[test]
    fn weeks_of_orders_are_clipped_to_the_cycle_and_count_each_row() {
        // January 1997 in UTC: the 1st is a Wednesday, so Monday weeks start on the 6th, 13th,
        // 20th and 27th; the first week is clipped to [Jan 1, Jan 6), the last to [Jan 27, Feb 1).
        let cycle = Cycle::new(date("1997-01-01"), date("1997-01-31"), chrono_tz::UTC).unwrap();
        let text = " customer_id  date number_of_cds  dollar_value
 00001 19970101  1   11.77
 00002 19970105  2   20.00
 00002 19970105  1   10.00
 00003 19970106  1   30.00
 00004 19970131  1    9.99
 00005 19970201  1   99.00
";
        let (purchases, errors) = parse(text);
        assert_eq!(errors, vec![]);
        let weeks = weekly_orders(&purchases, &cycle, WeekStart::Monday);
        let utc = |s: &str| format!("{s}T00:00:00Z").parse::<DateTime<Utc>>().unwrap();
        let starts: Vec<_> = weeks.iter().map(|week| week.start).collect();
        assert_eq!(
            starts,
            [
                "1997-01-01",
                "1997-01-06",
                "1997-01-13",
                "1997-01-20",
                "1997-01-27"
            ]
            .map(utc)
        );
        assert_eq!(weeks[4].end, utc("1997-02-01"));
        let totals: Vec<_> = weeks
            .iter()
            .map(|week| (week.orders, week.revenue))
            .collect();
        // 11.77 + 20.00 + 10.00 in the first week; February's purchase is outside the cycle.
        assert_eq!(
            totals,
            vec![
                (3, dec("41.77")),
                (1, dec("30.00")),
                (0, Decimal::ZERO),
                (0, Decimal::ZERO),
                (1, dec("9.99")),
            ]
        );
        assert_eq!(weeks[1].average_order_value(), Some(dec("30")));
        assert_eq!(weeks[2].average_order_value(), None);
        // Sunday weeks move the boundary to the 5th, so the two orders of the 5th move too.
        let sunday = weekly_orders(&purchases, &cycle, WeekStart::Sunday);
        assert_eq!(sunday[0].end, utc("1997-01-05"));
        assert_eq!((sunday[0].orders, sunday[1].orders), (1, 3));
    }

    #[test]
    fn parses_rows_like_the_real_file() {
        let text = " customer_id  date number_of_cds  dollar_value\r\n 00001 19970101  1   11.77\r\n 00002 19970112  1   12.00\r\n 00002 19970112  5   77.00\r\n";
        let (purchases, errors) = parse(text);
        assert_eq!(errors, vec![]);
        assert_eq!(
            purchases[0],
            Purchase {
                line: 2,
                customer_id: "00001".into(),
                date: date("1997-01-01"),
                number_of_cds: 1,
                dollar_value: dec("11.77"),
                idempotency_key: "cdnow:00001:19970101:1".into(),
            }
        );
        // Two rows on the same day are two purchases with their own keys.
        assert_eq!(purchases[1].idempotency_key, "cdnow:00002:19970112:1");
        assert_eq!(purchases[2].idempotency_key, "cdnow:00002:19970112:2");
        assert_eq!(purchases[2].line, 4);
        assert_eq!(purchases[2].number_of_cds, 5);
        assert_eq!(purchases[2].dollar_value, dec("77"));
    }

    #[test]
    fn reports_malformed_rows_by_line_and_keeps_the_rest() {
        let text = "\
 customer_id  date number_of_cds  dollar_value
 00001 19970101  1   11.77
 00002 19971301  1   12.00
 00003 19970102  2

 00004 19970103 -1   5.00
 00005 19970104  1   5.00 extra
 0000x 19970105  1   5.00
 00006 1997-01-06  1   5.00
 00007 19970107  1   1e3
 00008 19970108  1   -3.00
 00009 19970109  0   0.00
 00001 19970101  2   20.00
";
        let (purchases, errors) = parse(text);
        let error_lines: Vec<(usize, &str)> = errors
            .iter()
            .map(|e| (e.line, e.message.as_str()))
            .collect();
        assert_eq!(
            error_lines,
            vec![
                (3, "date \"19971301\" is not a valid YYYYMMDD date"),
                (
                    4,
                    "missing field dollar_value (expected customer_id, date, number_of_cds, dollar_value separated by spaces)"
                ),
                (
                    6,
                    "number_of_cds \"-1\" is not a whole number of zero or more"
                ),
                (7, "unexpected extra field \"extra\" after dollar_value"),
                (8, "customer_id \"0000x\" is not a number"),
                (9, "date \"1997-01-06\" is not a valid YYYYMMDD date"),
                (10, "dollar_value \"1e3\" is not a plain decimal number"),
                (11, "dollar_value \"-3.00\" is negative"),
            ]
        );
        let kept: Vec<(usize, &str)> = purchases
            .iter()
            .map(|p| (p.line, p.idempotency_key.as_str()))
            .collect();
        assert_eq!(
            kept,
            vec![
                (2, "cdnow:00001:19970101:1"),
                (12, "cdnow:00009:19970109:1"),
                (13, "cdnow:00001:19970101:2"),
            ]
        );
        assert_eq!(
            errors[0].to_string(),
            "line 3: date \"19971301\" is not a valid YYYYMMDD date"
        );
    }

    #[test]
    fn a_missing_header_is_reported_and_data_rows_are_still_read() {
        let (purchases, errors) = parse(" 00001 19970101  1   11.77\n 00002 19970102  1   12.00\n");
        assert_eq!(
            errors,
            vec![RowError {
                line: 1,
                message: "expected the header \"customer_id date number_of_cds dollar_value\", got \"00001 19970101  1   11.77\"".into(),
            }]
        );
        assert_eq!(purchases.len(), 2);
        assert_eq!(purchases[0].line, 1);

        let (purchases, errors) = parse("id when cds dollars\n 00001 19970101  1   11.77\n");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 1);
        assert!(errors[0].message.starts_with("expected the header"));
        assert_eq!(purchases.len(), 1);
    }

    #[test]
    fn blank_lines_before_the_header_are_skipped() {
        let (purchases, errors) =
            parse("\n  \ncustomer_id date number_of_cds dollar_value\n00001 19970101 1 11.77");
        assert_eq!(errors, vec![]);
        assert_eq!(purchases.len(), 1);
        assert_eq!(purchases[0].line, 4);
        assert_eq!(parse(""), (vec![], vec![]));
    }

    #[test]
    fn purchases_become_events_at_midnight_utc() {
        let (purchases, _) =
            parse("customer_id date number_of_cds dollar_value\n00042 19970325 2 25.74\n");
        assert_eq!(
            purchase_events(&purchases),
            vec![UserEvent {
                user_id: "00042".into(),
                event_name: "purchase".into(),
                occurred_at: "1997-03-25T00:00:00Z".parse().unwrap(),
            }]
        );
    }
}
