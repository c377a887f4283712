//! The transactional outbox and its change feed, against a real PostgreSQL: order and
//! completeness across transactions that commit out of version order, rolled-back versions,
//! resuming, pruning, slow subscribers and many subscribers; and the fanout that routes each
//! change only to the subscribers of its keys.

use std::{sync::Arc, time::Duration};

use devokr_platform::{
    fanout::Fanout,
    outbox::{self, BROADCAST_CAPACITY, Change, ChangeFeed, FeedError},
    testing::TestDatabase,
};
use futures::{Stream, StreamExt};
use sqlx::{Connection, PgConnection, PgPool, postgres::PgPoolOptions};
use tokio_util::sync::CancellationToken;

/// The payload of the test changes.
#[derive(Clone, PartialEq, prost::Message)]
struct Note {
    #[prost(string, tag = "1")]
    text: String,
}

const TABLE: &str = "feed.outbox";
const POLL: Duration = Duration::from_millis(20);
/// Long enough for several polls: a change that should be held back would have arrived.
const HELD_BACK: Duration = Duration::from_millis(300);
const PATIENCE: Duration = Duration::from_secs(10);

/// A fresh database with an outbox table, and a feed on it.
struct Fixture {
    pool: PgPool,
    feed: ChangeFeed<Note>,
    shutdown: CancellationToken,
    _database: TestDatabase,
}

impl Fixture {
    async fn new() -> Self {
        let database = TestDatabase::create().await.expect("a test database");
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect(database.url())
            .await
            .expect("a pool");
        sqlx::raw_sql(
            "create schema feed;
             create table feed.outbox (
                 version bigint generated always as identity primary key,
                 txid xid8 not null default pg_current_xact_id(),
                 tenant text not null,
                 payload bytea not null,
                 recorded_at timestamptz not null default now());
             create index outbox_by_recorded_at on feed.outbox (recorded_at);",
        )
        .execute(&pool)
        .await
        .expect("the outbox table");
        let shutdown = CancellationToken::new();
        let feed = ChangeFeed::start(pool.clone(), TABLE, POLL, shutdown.clone());
        Self {
            pool,
            feed,
            shutdown,
            _database: database,
        }
    }

    async fn connection(&self) -> PgConnection {
        PgConnection::connect(self._database.url())
            .await
            .expect("a connection")
    }

    /// Appends `text` for tenant "t" in a transaction of its own and wakes the feed.
    async fn commit(&self, text: &str) -> i64 {
        let mut transaction = self.pool.begin().await.expect("a transaction");
        let version = outbox::append(&mut transaction, TABLE, "t", &note(text))
            .await
            .expect("appended");
        transaction.commit().await.expect("committed");
        self.feed.notify();
        version
    }

    /// Waits until the feed has broadcast `version`.
    async fn broadcast(&self, version: i64) {
        tokio::time::timeout(PATIENCE, async {
            while self.feed.version() < version {
                self.feed.notify();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("version {version} was not broadcast"));
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn note(text: &str) -> Note {
    Note {
        text: text.to_owned(),
    }
}

/// A stream of changes: a feed's subscription or a fanout's.
trait Changes: Stream<Item = Result<Arc<Change<Note>>, FeedError>> + Unpin {}
impl<S: Stream<Item = Result<Arc<Change<Note>>, FeedError>> + Unpin> Changes for S {}

/// The next change, which must come within the patience.
async fn next(subscription: &mut impl Changes) -> Arc<Change<Note>> {
    match tokio::time::timeout(PATIENCE, subscription.next()).await {
        Ok(Some(Ok(change))) => change,
        Ok(other) => panic!("expected a change, got {other:?}"),
        Err(_) => panic!("no change within {PATIENCE:?}"),
    }
}

/// `(version, text)` of the next `count` changes.
async fn take(subscription: &mut impl Changes, count: usize) -> Vec<(i64, String)> {
    let mut changes = Vec::with_capacity(count);
    for _ in 0..count {
        let change = next(subscription).await;
        changes.push((change.version, change.payload.text.clone()));
    }
    changes
}

async fn nothing_for(subscription: &mut impl Changes, period: Duration) {
    if let Ok(item) = tokio::time::timeout(period, subscription.next()).await {
        panic!("expected nothing yet, got {item:?}");
    }
}

#[tokio::test]
async fn a_lower_version_that_commits_last_is_delivered_first() {
    let fixture = Fixture::new().await;
    let mut subscription = fixture.feed.subscribe(None).await.expect("subscribed");
    let mut a = fixture.connection().await;
    let mut b = fixture.connection().await;

    sqlx::raw_sql("begin").execute(&mut a).await.unwrap();
    let version_a = outbox::append(&mut a, TABLE, "t", &note("a"))
        .await
        .unwrap();
    sqlx::raw_sql("begin").execute(&mut b).await.unwrap();
    let version_b = outbox::append(&mut b, TABLE, "t", &note("b"))
        .await
        .unwrap();
    assert_eq!(version_b, version_a + 1);
    sqlx::raw_sql("commit").execute(&mut b).await.unwrap();
    fixture.feed.notify();

    // B is committed, but A (a lower version) may still commit: nothing past A yet.
    nothing_for(&mut subscription, HELD_BACK).await;
    assert!(fixture.feed.version() < version_a);

    sqlx::raw_sql("commit").execute(&mut a).await.unwrap();
    fixture.feed.notify();
    assert_eq!(
        take(&mut subscription, 2).await,
        [(version_a, "a".into()), (version_b, "b".into())]
    );
    assert_eq!(fixture.feed.version(), version_b);
}

/// A poller that only reads rows with `txid < pg_snapshot_xmin(...)` and `version > last`
/// loses a change here: the transaction with the lower id takes the higher version.
#[tokio::test]
async fn a_transaction_with_an_older_id_and_a_newer_version_does_not_overtake() {
    let fixture = Fixture::new().await;
    let mut subscription = fixture.feed.subscribe(None).await.expect("subscribed");
    let mut older = fixture.connection().await;
    let mut younger = fixture.connection().await;

    // `older` gets its transaction id first, as when it writes its change before its outbox row.
    sqlx::raw_sql("begin; select pg_current_xact_id();")
        .execute(&mut older)
        .await
        .unwrap();
    sqlx::raw_sql("begin").execute(&mut younger).await.unwrap();
    let lower = outbox::append(&mut younger, TABLE, "t", &note("younger"))
        .await
        .unwrap();
    let higher = outbox::append(&mut older, TABLE, "t", &note("older"))
        .await
        .unwrap();
    assert_eq!(higher, lower + 1);
    sqlx::raw_sql("commit").execute(&mut older).await.unwrap();
    fixture.feed.notify();

    nothing_for(&mut subscription, HELD_BACK).await;

    sqlx::raw_sql("commit").execute(&mut younger).await.unwrap();
    fixture.feed.notify();
    assert_eq!(
        take(&mut subscription, 2).await,
        [(lower, "younger".into()), (higher, "older".into())]
    );
}

#[tokio::test]
async fn a_rolled_back_version_is_passed_over_once_its_transaction_has_ended() {
    let fixture = Fixture::new().await;
    let mut subscription = fixture.feed.subscribe(None).await.expect("subscribed");

    // Rolled back before anything after it commits.
    let mut connection = fixture.connection().await;
    sqlx::raw_sql("begin")
        .execute(&mut connection)
        .await
        .unwrap();
    let gone = outbox::append(&mut connection, TABLE, "t", &note("gone"))
        .await
        .unwrap();
    sqlx::raw_sql("rollback")
        .execute(&mut connection)
        .await
        .unwrap();
    let kept = fixture.commit("kept").await;
    assert_eq!(kept, gone + 1);
    assert_eq!(take(&mut subscription, 1).await, [(kept, "kept".into())]);

    // Still running while a later version commits: held back until it rolls back.
    sqlx::raw_sql("begin")
        .execute(&mut connection)
        .await
        .unwrap();
    let pending = outbox::append(&mut connection, TABLE, "t", &note("pending"))
        .await
        .unwrap();
    let after = fixture.commit("after").await;
    nothing_for(&mut subscription, HELD_BACK).await;
    sqlx::raw_sql("rollback")
        .execute(&mut connection)
        .await
        .unwrap();
    fixture.feed.notify();
    assert_eq!(take(&mut subscription, 1).await, [(after, "after".into())]);
    assert!(pending < after);
}

#[tokio::test]
async fn resuming_after_a_version_gives_exactly_the_later_ones_then_live_ones() {
    let fixture = Fixture::new().await;
    let mut versions = Vec::new();
    for index in 0..10 {
        versions.push(fixture.commit(&format!("n{index}")).await);
    }
    fixture.broadcast(versions[9]).await;

    let mut subscription = fixture
        .feed
        .subscribe(Some(versions[2]))
        .await
        .expect("subscribed");
    assert_eq!(subscription.position(), versions[2]);
    let expected: Vec<(i64, String)> = (3..10)
        .map(|index| (versions[index], format!("n{index}")))
        .collect();
    assert_eq!(take(&mut subscription, 7).await, expected);
    assert_eq!(subscription.position(), versions[9]);

    let live = fixture.commit("live").await;
    assert_eq!(take(&mut subscription, 1).await, [(live, "live".into())]);

    // From the start of the table, and from the newest version: nothing missing, nothing twice.
    let mut from_start = fixture.feed.subscribe(Some(0)).await.expect("subscribed");
    let everything: Vec<(i64, String)> = versions
        .iter()
        .enumerate()
        .map(|(index, version)| (*version, format!("n{index}")))
        .chain([(live, "live".to_owned())])
        .collect();
    assert_eq!(take(&mut from_start, 11).await, everything);
    let mut from_newest = fixture
        .feed
        .subscribe(Some(live))
        .await
        .expect("subscribed");
    let latest = fixture.commit("latest").await;
    assert_eq!(take(&mut from_newest, 1).await, [(latest, "latest".into())]);
    assert_eq!(take(&mut from_start, 1).await, [(latest, "latest".into())]);
}

#[tokio::test]
async fn a_backlog_longer_than_a_page_arrives_whole_and_in_order() {
    let fixture = Fixture::new().await;
    let payload = prost::Message::encode_to_vec(&note("bulk"));
    sqlx::query(
        "insert into feed.outbox (tenant, payload) select 't', $1 from generate_series(1, 1000)",
    )
    .bind(&payload)
    .execute(&fixture.pool)
    .await
    .unwrap();
    fixture.broadcast(1000).await;
    let mut subscription = fixture.feed.subscribe(Some(0)).await.expect("subscribed");
    let versions: Vec<i64> = take(&mut subscription, 1000)
        .await
        .into_iter()
        .map(|(version, _)| version)
        .collect();
    assert_eq!(versions, (1..=1000).collect::<Vec<_>>());
}

#[tokio::test]
async fn resuming_from_a_pruned_version_is_too_old() {
    let fixture = Fixture::new().await;
    let mut versions = Vec::new();
    for index in 0..5 {
        versions.push(fixture.commit(&format!("n{index}")).await);
    }
    fixture.broadcast(versions[4]).await;
    sqlx::query(
        "update feed.outbox set recorded_at = now() - interval '2 days' where version <= $1",
    )
    .bind(versions[2])
    .execute(&fixture.pool)
    .await
    .unwrap();

    let deleted = fixture
        .feed
        .prune(Duration::from_secs(24 * 3600))
        .await
        .expect("pruned");
    assert_eq!(deleted, 3);

    match fixture.feed.subscribe(Some(versions[0])).await {
        Err(FeedError::TooOld {
            requested,
            oldest_kept,
        }) => assert_eq!((requested, oldest_kept), (versions[0], versions[3])),
        other => panic!("expected TooOld, got {other:?}"),
    }
    assert!(matches!(
        fixture.feed.subscribe(Some(versions[1])).await,
        Err(FeedError::TooOld { .. })
    ));
    // Nothing after versions[2] was pruned, so resuming there is fine.
    let mut subscription = fixture
        .feed
        .subscribe(Some(versions[2]))
        .await
        .expect("subscribed");
    assert_eq!(
        take(&mut subscription, 2).await,
        [(versions[3], "n3".into()), (versions[4], "n4".into())]
    );

    // Everything old: all but the newest change go.
    sqlx::query("update feed.outbox set recorded_at = now() - interval '2 days'")
        .execute(&fixture.pool)
        .await
        .unwrap();
    let deleted = fixture
        .feed
        .prune(Duration::from_secs(24 * 3600))
        .await
        .expect("pruned");
    assert_eq!(deleted, 1);
    let kept: Vec<i64> = sqlx::query_scalar("select version from feed.outbox")
        .fetch_all(&fixture.pool)
        .await
        .unwrap();
    assert_eq!(kept, [versions[4]]);
}

#[tokio::test]
async fn a_subscriber_that_does_not_read_ends_with_lagged() {
    let fixture = Fixture::new().await;
    let mut idle = fixture.feed.subscribe(None).await.expect("subscribed");
    let changes = BROADCAST_CAPACITY as i64 + 100;
    let payload = prost::Message::encode_to_vec(&note("flood"));
    sqlx::query(
        "insert into feed.outbox (tenant, payload) select 't', $1 from generate_series(1, $2)",
    )
    .bind(&payload)
    .bind(changes)
    .execute(&fixture.pool)
    .await
    .unwrap();
    fixture.broadcast(changes).await;

    match tokio::time::timeout(PATIENCE, idle.next()).await {
        Ok(Some(Err(FeedError::Lagged))) => {}
        other => panic!("expected Lagged, got {other:?}"),
    }
    assert!(idle.next().await.is_none(), "the stream ends after Lagged");

    // Resuming from where it was loses nothing and repeats nothing: every version once, in
    // order, then nothing more.
    let mut resumed = fixture.feed.subscribe(Some(0)).await.expect("subscribed");
    let versions: Vec<i64> = take(&mut resumed, changes as usize)
        .await
        .into_iter()
        .map(|(version, _)| version)
        .collect();
    assert_eq!(versions, (1..=changes).collect::<Vec<_>>());
    nothing_for(&mut resumed, HELD_BACK).await;
}

#[tokio::test]
async fn many_subscribers_each_receive_every_change_in_order() {
    let fixture = Arc::new(Fixture::new().await);
    let mut subscribers = Vec::new();
    for index in 0..40 {
        let after = if index % 2 == 0 { None } else { Some(0) };
        subscribers.push(fixture.feed.subscribe(after).await.expect("subscribed"));
    }
    const WRITERS: usize = 4;
    const EACH: usize = 25;
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let fixture = Arc::clone(&fixture);
            tokio::spawn(async move {
                for index in 0..EACH {
                    fixture.commit(&format!("w{writer}-{index}")).await;
                }
            })
        })
        .collect();
    // Subscribers that join while the writers write, from the start: backlog, then live.
    tokio::time::sleep(Duration::from_millis(50)).await;
    for _ in 0..10 {
        subscribers.push(fixture.feed.subscribe(Some(0)).await.expect("subscribed"));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let total = WRITERS * EACH;
    let expected: Vec<i64> = (1..=total as i64).collect();
    let received = futures::future::join_all(subscribers.iter_mut().map(|subscription| async {
        take(subscription, total)
            .await
            .into_iter()
            .map(|(version, _)| version)
            .collect::<Vec<_>>()
    }))
    .await;
    for versions in received {
        assert_eq!(versions, expected);
    }
}

#[tokio::test]
async fn a_payload_that_does_not_decode_is_skipped() {
    let fixture = Fixture::new().await;
    let mut live = fixture.feed.subscribe(None).await.expect("subscribed");
    let before = fixture.commit("before").await;
    // Not a `Note`: field 1 with wire type "varint" where a string is expected.
    sqlx::query("insert into feed.outbox (tenant, payload) values ('t', '\\x0801')")
        .execute(&fixture.pool)
        .await
        .unwrap();
    let after = fixture.commit("after").await;
    assert_eq!(after, before + 2);
    assert_eq!(
        take(&mut live, 2).await,
        [(before, "before".into()), (after, "after".into())]
    );
    let mut backlog = fixture.feed.subscribe(Some(0)).await.expect("subscribed");
    assert_eq!(
        take(&mut backlog, 2).await,
        [(before, "before".into()), (after, "after".into())]
    );
}

#[tokio::test]
async fn a_feed_started_on_a_filled_table_serves_only_later_changes_live() {
    let fixture = Fixture::new().await;
    let old = fixture.commit("old").await;
    fixture.broadcast(old).await;

    // A second feed, as after a restart: it starts after the newest change.
    let shutdown = CancellationToken::new();
    let restarted: ChangeFeed<Note> =
        ChangeFeed::start(fixture.pool.clone(), TABLE, POLL, shutdown.clone());
    let mut live = restarted.subscribe(None).await.expect("subscribed");
    assert_eq!(restarted.version(), old);
    let new = fixture.commit("new").await;
    restarted.notify();
    assert_eq!(take(&mut live, 1).await, [(new, "new".into())]);
    let mut resumed = restarted.subscribe(Some(0)).await.expect("subscribed");
    assert_eq!(
        take(&mut resumed, 2).await,
        [(old, "old".into()), (new, "new".into())]
    );
    shutdown.cancel();
}

#[tokio::test]
async fn shutting_the_feed_down_ends_its_streams() {
    let fixture = Fixture::new().await;
    let mut subscription = fixture.feed.subscribe(None).await.expect("subscribed");
    fixture.shutdown.cancel();
    match tokio::time::timeout(Duration::from_secs(2), subscription.next()).await {
        Ok(None) => {}
        other => panic!("expected the end of the stream, got {other:?}"),
    }
    // Subscribing to a stopped feed gives an empty stream rather than waiting forever.
    let mut late = fixture.feed.subscribe(None).await.expect("subscribed");
    assert!(late.next().await.is_none());
}

/// Writers that interleave, take their transaction ids early or late, pause inside their
/// transactions and sometimes roll back: every subscriber sees exactly the committed
/// versions, in order, whenever it joined.
#[tokio::test]
async fn interleaved_writers_with_rollbacks_lose_and_repeat_nothing() {
    const WRITERS: u64 = 5;
    const EACH: u64 = 30;
    let fixture = Arc::new(Fixture::new().await);
    // Version 1 exists: resuming after 0 is then never "too old" (see `subscribe`).
    let first = fixture.commit("first").await;
    fixture.broadcast(first).await;
    // Subscribers 0 and 1 see the changes after `first`, 2 and 3 also `first`, 4 those after 3.
    let mut subscribers = vec![
        fixture.feed.subscribe(None).await.expect("subscribed"),
        fixture
            .feed
            .subscribe(Some(first))
            .await
            .expect("subscribed"),
        fixture.feed.subscribe(Some(0)).await.expect("subscribed"),
    ];
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let fixture = Arc::clone(&fixture);
            tokio::spawn(async move {
                // A small linear congruential generator: reproducible, no dependency.
                let mut state = writer * 7919 + 17;
                let mut random = move |bound: u64| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1);
                    (state >> 33) % bound
                };
                let mut committed = Vec::new();
                let mut connection = fixture.connection().await;
                for index in 0..EACH {
                    sqlx::raw_sql("begin")
                        .execute(&mut connection)
                        .await
                        .unwrap();
                    if random(2) == 0 {
                        sqlx::raw_sql("select pg_current_xact_id()")
                            .execute(&mut connection)
                            .await
                            .unwrap();
                    }
                    tokio::time::sleep(Duration::from_millis(random(4))).await;
                    let text = format!("w{writer}-{index}");
                    let version = outbox::append(&mut connection, TABLE, "t", &note(&text))
                        .await
                        .unwrap();
                    tokio::time::sleep(Duration::from_millis(random(4))).await;
                    if random(5) == 0 {
                        sqlx::raw_sql("rollback")
                            .execute(&mut connection)
                            .await
                            .unwrap();
                    } else {
                        sqlx::raw_sql("commit")
                            .execute(&mut connection)
                            .await
                            .unwrap();
                        committed.push(version);
                    }
                    fixture.feed.notify();
                }
                committed
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(60)).await;
    subscribers.push(fixture.feed.subscribe(Some(0)).await.expect("subscribed"));
    subscribers.push(fixture.feed.subscribe(Some(3)).await.expect("subscribed"));
    let mut committed = Vec::new();
    for writer in writers {
        committed.extend(writer.await.expect("writer"));
    }
    committed.sort_unstable();
    let with_first: Vec<i64> = std::iter::once(first)
        .chain(committed.iter().copied())
        .collect();
    let after_three: Vec<i64> = with_first.iter().copied().filter(|v| *v > 3).collect();
    for (index, subscription) in subscribers.iter_mut().enumerate() {
        let expected = match index {
            0 | 1 => &committed,
            2 | 3 => &with_first,
            _ => &after_three,
        };
        let versions: Vec<i64> = take(subscription, expected.len())
            .await
            .into_iter()
            .map(|(version, _)| version)
            .collect();
        assert_eq!(&versions, expected, "subscriber {index}");
        nothing_for(subscription, Duration::from_millis(50)).await;
    }
}

/// A fanout routing each note by the keys before its colon: "a,b:text" carries a and b.
fn fanout(fixture: &Fixture) -> Fanout<String, Note> {
    Fanout::start(fixture.feed.clone(), |note: &Note| {
        let (keys, _) = note.text.split_once(':').unwrap_or_default();
        keys.split(',').map(str::to_owned).collect()
    })
}

fn keys(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|&key| key.to_owned()).collect()
}

#[tokio::test]
async fn a_fanout_hands_each_change_only_to_the_subscribers_of_its_keys_in_order_and_once() {
    let fixture = Fixture::new().await;
    let fanout = fanout(&fixture);
    let mut a = fanout.subscribe(keys(&["a"]), None).await.expect("a");
    let mut b = fanout.subscribe(keys(&["b"]), None).await.expect("b");
    let mut a_and_b = fanout.subscribe(keys(&["a", "b"]), None).await.expect("ab");
    let mut c = fanout.subscribe(keys(&["c"]), None).await.expect("c");
    let mut versions = Vec::new();
    for text in ["a:1", "b:2", "a,b:3", "a:4", "d:5"] {
        versions.push(fixture.commit(text).await);
    }
    let version = |index: usize, text: &str| (versions[index], text.to_owned());
    assert_eq!(
        take(&mut a, 3).await,
        [version(0, "a:1"), version(2, "a,b:3"), version(3, "a:4")]
    );
    assert_eq!(
        take(&mut b, 2).await,
        [version(1, "b:2"), version(2, "a,b:3")]
    );
    // A change carrying two of a subscriber's keys reaches it once.
    assert_eq!(
        take(&mut a_and_b, 4).await,
        [
            version(0, "a:1"),
            version(1, "b:2"),
            version(2, "a,b:3"),
            version(3, "a:4")
        ]
    );
    // d:5 has been routed (it is the last change), and reached nobody.
    fixture.broadcast(versions[4]).await;
    for subscriber in [&mut a, &mut b, &mut a_and_b, &mut c] {
        nothing_for(subscriber, HELD_BACK).await;
    }
}

#[tokio::test]
async fn a_fanout_subscriber_resuming_gets_its_keys_backlog_then_live_changes() {
    let fixture = Fixture::new().await;
    let fanout = fanout(&fixture);
    let mut early = Vec::new();
    for text in ["a:1", "b:2", "a:3"] {
        early.push(fixture.commit(text).await);
    }
    fixture.broadcast(early[2]).await;
    // Let the router route them before these subscribe, so they come from the table.
    tokio::time::sleep(HELD_BACK).await;
    let mut from_start = fanout
        .subscribe(keys(&["a"]), Some(0))
        .await
        .expect("from 0");
    let mut after_first = fanout
        .subscribe(keys(&["a"]), Some(early[0]))
        .await
        .expect("after the first");
    let mut from_now = fanout.subscribe(keys(&["a"]), None).await.expect("now");
    assert_eq!(from_now.start(), early[2]);
    let later = [fixture.commit("b:4").await, fixture.commit("a:5").await];
    assert_eq!(
        take(&mut from_start, 3).await,
        [
            (early[0], "a:1".to_owned()),
            (early[2], "a:3".to_owned()),
            (later[1], "a:5".to_owned())
        ]
    );
    assert_eq!(
        take(&mut after_first, 2).await,
        [(early[2], "a:3".to_owned()), (later[1], "a:5".to_owned())]
    );
    assert_eq!(take(&mut from_now, 1).await, [(later[1], "a:5".to_owned())]);
    for subscriber in [&mut from_start, &mut after_first, &mut from_now] {
        nothing_for(subscriber, HELD_BACK).await;
    }
}

#[tokio::test]
async fn a_fanout_subscriber_that_does_not_read_ends_with_lagged_and_others_go_on() {
    let fixture = Fixture::new().await;
    let fanout = fanout(&fixture);
    let mut sleeper = fanout.subscribe(keys(&["a"]), None).await.expect("sleeper");
    let mut reader = fanout.subscribe(keys(&["b"]), None).await.expect("reader");
    let changes = BROADCAST_CAPACITY as i64 + 100;
    let payload = prost::Message::encode_to_vec(&note("a:flood"));
    sqlx::query(
        "insert into feed.outbox (tenant, payload) select 't', $1 from generate_series(1, $2)",
    )
    .bind(&payload)
    .bind(changes)
    .execute(&fixture.pool)
    .await
    .unwrap();
    fixture.broadcast(changes).await;
    let written = fixture.commit("b:after").await;
    assert_eq!(
        take(&mut reader, 1).await,
        [(written, "b:after".to_owned())]
    );
    let mut received = 0;
    let ended = loop {
        match tokio::time::timeout(PATIENCE, sleeper.next()).await {
            Ok(Some(Ok(_))) => received += 1,
            Ok(other) => break other,
            Err(_) => panic!("the sleeper neither lagged nor ended"),
        }
    };
    assert!(
        matches!(ended, Some(Err(FeedError::Lagged))),
        "{ended:?} after {received} changes"
    );
    assert_eq!(received, BROADCAST_CAPACITY);
}
