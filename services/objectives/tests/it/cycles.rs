//! CreateCycle: every bad field is named, a cycle lies inside its parent, and the instants
//! of a cycle follow its time zone.

use devokr_proto::objectives::v1 as pb;

use crate::fixture::{
    Stack, TENANT, cycle, fields, from_timestamp, instant, violated_fields, violations,
};

fn request(cycle_id: &str, cycle: pb::Cycle) -> pb::CreateCycleRequest {
    pb::CreateCycleRequest {
        parent: TENANT.into(),
        cycle_id: cycle_id.into(),
        cycle: Some(cycle),
        request_id: String::new(),
    }
}

#[tokio::test]
async fn create_cycle_names_each_bad_field() {
    let stack = Stack::start().await;
    let mut client = stack.client();

    // (what is wrong, request, the one field that must be named, a word its description must use)
    let cases = [
        (
            "end before start",
            request("q1", cycle("Q1", "2026-03-31", "2026-01-01", "UTC")),
            "cycle.end_date",
            "before",
        ),
        (
            "30 February",
            request("q1", cycle("Q1", "2026-01-01", "2026-02-30", "UTC")),
            "cycle.end_date",
            "2026-02-30",
        ),
        (
            "unknown time zone",
            request(
                "q1",
                cycle("Q1", "2026-01-01", "2026-03-31", "Mars/Olympus_Mons"),
            ),
            "cycle.time_zone",
            "Mars/Olympus_Mons",
        ),
        (
            "id starting with a digit",
            request("2026-q1", cycle("Q1", "2026-01-01", "2026-03-31", "UTC")),
            "cycle_id",
            "2026-q1",
        ),
        // 9999-12-31 ends at 10000-01-01T00:00Z (08:00Z in Los Angeles), 0001-01-01 starts
        // at 0000-12-31T15:00Z in Tokyo: neither is a Timestamp.
        (
            "ends after the last timestamp",
            request(
                "q1",
                cycle("Q1", "9999-10-01", "9999-12-31", "America/Los_Angeles"),
            ),
            "cycle.end_date",
            "timestamp",
        ),
        (
            "starts before the first timestamp",
            request("q1", cycle("Q1", "0001-01-01", "0001-03-31", "Asia/Tokyo")),
            "cycle.start_date",
            "timestamp",
        ),
        (
            "missing display name",
            request("q1", cycle("   ", "2026-01-01", "2026-03-31", "UTC")),
            "cycle.display_name",
            "required",
        ),
    ];
    for (what, request, field, word) in cases {
        let status = client.create_cycle(request).await.expect_err(what);
        let violations = violations(&status);
        assert_eq!(violations.len(), 1, "{what}: {violations:?}");
        assert_eq!(violations[0].0, field, "{what}");
        assert!(
            violations[0].1.contains(word),
            "{what}: {:?}",
            violations[0].1
        );
    }

    // Several bad fields are reported together, in one answer.
    let status = client
        .create_cycle(request(
            "2026-q1",
            cycle("", "2026-01-01", "2026-02-30", "Nowhere/Atlantis"),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&status),
        fields(&[
            "cycle_id",
            "cycle.display_name",
            "cycle.end_date",
            "cycle.time_zone"
        ])
    );

    // A missing cycle is reported too, not taken as a default one.
    let status = client
        .create_cycle(pb::CreateCycleRequest {
            parent: TENANT.into(),
            cycle_id: "q1".into(),
            cycle: None,
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&status),
        fields(&["cycle.display_name", "cycle.start_date", "cycle.end_date"])
    );

    // Nothing was stored by the rejected requests.
    let listed = client
        .list_cycles(pb::ListCyclesRequest {
            parent: TENANT.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.cycles.is_empty(), "{:?}", listed.cycles);

    stack.stop().await;
}

/// A year holds its quarters: a cycle names its parent, which must hold every instant of it,
/// each in its own time zone.
#[tokio::test]
async fn a_cycle_lies_inside_its_parent() {
    let stack = Stack::start().await;
    let mut client = stack.client();
    let year = client
        .create_cycle(request(
            "fy2026",
            cycle("FY 2026", "2026-01-01", "2026-12-31", "Asia/Tokyo"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(year.parent.is_empty());
    let in_year = |display_name: &str, start: &str, end: &str, time_zone: &str| pb::Cycle {
        parent: year.name.clone(),
        ..cycle(display_name, start, end, time_zone)
    };
    let q3 = client
        .create_cycle(request(
            "q3",
            in_year("2026-Q3", "2026-07-01", "2026-09-30", "Asia/Tokyo"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(q3.parent, year.name);
    let read_back = client
        .get_cycle(pb::GetCycleRequest {
            name: q3.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read_back, q3);

    // The Tokyo year ends at 2026-12-31T15:00Z; Q4 in Los Angeles ends at 2027-01-01T08:00Z.
    let cases = [
        (
            "Q4 west of the year",
            in_year("2026-Q4", "2026-10-01", "2026-12-31", "America/Los_Angeles"),
            "does not hold",
        ),
        (
            "the next year's quarter",
            in_year("2027-Q1", "2027-01-01", "2027-03-31", "Asia/Tokyo"),
            "does not hold",
        ),
        (
            "a parent that does not exist",
            pb::Cycle {
                parent: format!("{TENANT}/cycles/fy1999"),
                ..cycle("Q", "2026-01-01", "2026-03-31", "Asia/Tokyo")
            },
            "does not exist",
        ),
        (
            "another tenant's parent",
            pb::Cycle {
                parent: "tenants/globex/cycles/fy2026".into(),
                ..cycle("Q", "2026-01-01", "2026-03-31", "Asia/Tokyo")
            },
            "another tenant",
        ),
    ];
    for (what, refused, says) in cases {
        let status = client
            .create_cycle(request("q4", refused))
            .await
            .expect_err(what);
        let said = violations(&status);
        assert_eq!(said.len(), 1, "{what}: {said:?}");
        assert_eq!(said[0].0, "cycle.parent", "{what}");
        assert!(said[0].1.contains(says), "{what}: {said:?}");
    }
    let listed = client
        .list_cycles(pb::ListCyclesRequest {
            parent: TENANT.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .cycles;
    assert_eq!(listed, [year, q3]);

    stack.stop().await;
}

#[tokio::test]
async fn cycle_instants_follow_its_time_zone() {
    let stack = Stack::start().await;
    let mut client = stack.client();

    // Auckland keeps daylight time (NZDT, UTC+13) from the last Sunday of September 2025 to
    // the first Sunday of April 2026 (5 April, 03:00). So 00:00 of 1 January 2026 is
    // 11:00 UTC on 31 December 2025, and the end, 00:00 of 1 April 2026 (still NZDT), is
    // 11:00 UTC on 31 March 2026.
    let created = client
        .create_cycle(request(
            "nz-q1",
            cycle("2026-Q1 NZ", "2026-01-01", "2026-03-31", "Pacific/Auckland"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.name, "tenants/acme/cycles/nz-q1");
    assert_eq!(created.display_name, "2026-Q1 NZ");
    assert_eq!(created.time_zone, "Pacific/Auckland");
    assert_eq!(
        from_timestamp(created.start_time.as_ref()),
        instant("2025-12-31T11:00:00Z")
    );
    assert_eq!(
        from_timestamp(created.end_time.as_ref()),
        instant("2026-03-31T11:00:00Z")
    );
    assert!(!created.etag.is_empty());

    // An empty time zone means UTC.
    let utc = client
        .create_cycle(request(
            "utc-q1",
            cycle("2026-Q1", "2026-01-01", "2026-03-31", ""),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(utc.time_zone, "UTC");
    assert_eq!(
        from_timestamp(utc.start_time.as_ref()),
        instant("2026-01-01T00:00:00Z")
    );
    assert_eq!(
        from_timestamp(utc.end_time.as_ref()),
        instant("2026-04-01T00:00:00Z")
    );

    // Reading it back gives the same cycle.
    let read = client
        .get_cycle(pb::GetCycleRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, created);

    stack.stop().await;
}
