//! A transactional outbox and the change feed that serves it (Kubernetes-style watches).
//!
//! A service writes each change it makes as a row of its outbox table, with [`append`], in
//! the transaction that makes the change: the change and its row commit or roll back
//! together. A [`ChangeFeed`] tails that table and hands the changes to any number of
//! subscribers, in version order, with no gaps and no duplicates; a subscriber can resume
//! after the last version it saw ([`ChangeFeed::subscribe`]), and is told
//! [`FeedError::TooOld`] when changes after it were pruned, so it lists again.
//!
//! Every service's outbox has the same layout, created by the service's own migration:
//!
//! ```sql
//! create table <schema>.outbox (
//!     version bigint generated always as identity primary key,
//!     txid xid8 not null default pg_current_xact_id(),
//!     tenant text not null,
//!     payload bytea not null,          -- a prost-encoded message
//!     recorded_at timestamptz not null default now());
//! create index outbox_by_recorded_at on <schema>.outbox (recorded_at);
//! ```
//!
//! Rows are written only by [`append`], and the identity's sequence keeps PostgreSQL's default
//! `cache 1`: the feed relies on versions being handed out in real-time order.
//!
//! # Why versions are never skipped
//!
//! Versions are taken from a sequence when a row is inserted, but transactions commit in any
//! order: version 7 can become visible while version 6 is still uncommitted, and 6 may yet
//! commit or roll back. Reading "`version > last`" would then step past 6 for good. The
//! feed therefore delivers versions strictly in order and stops at the first missing one.
//! A missing version is given up as rolled back only once the transaction that took it has
//! provably ended: when the gap is first seen, every version below the next visible row was
//! already taken, by a transaction that already had its id ([`append`] assigns the
//! transaction id *before* it takes a version). The feed then takes a transaction id of its
//! own, which is higher than all of those; once the `pg_snapshot_xmin` of a later snapshot
//! has passed it, all those transactions have ended, and a version still missing in that
//! snapshot was rolled back. (`pg_snapshot_xmax` cannot serve as that mark: it is one past
//! the newest *completed* transaction, and running transactions can be above it.) This is the
//! xid8 horizon of the transactional-outbox pattern. Filtering rows by
//! `txid < pg_snapshot_xmin(...)` alone would not be enough, because a transaction that got
//! its id earlier can take the *higher* version (it wrote something else first), commit
//! first and pass the filter while the lower version is still pending.
//!
//! A long-running writing transaction anywhere in the cluster holds up a gap (never a
//! contiguous change) until it ends; set `idle_in_transaction_session_timeout`.
//!
//! # Memory
//!
//! One tailing task per feed and one broadcast channel of [`BROADCAST_CAPACITY`] shared
//! changes, whatever the number of subscribers; a [`Subscription`] is a few hundred bytes
//! while it follows live changes and runs no task of its own.
//!
//! # Payloads that cannot be decoded
//!
//! A payload that does not decode as `T` is a bug (an incompatible message was appended): it
//! is logged at `error` level and that version is skipped, in the live feed and in backlogs
//! alike; the stream carries on with the next version.

use std::{
    collections::VecDeque,
    fmt,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use futures::{FutureExt, Stream, StreamExt, future::BoxFuture};
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Row, postgres::PgRow};
use tokio::sync::{Notify, broadcast, watch};
use tokio_stream::wrappers::{BroadcastStream, errors::BroadcastStreamRecvError};
use tokio_util::sync::CancellationToken;

/// How many changes a subscriber may fall behind the live feed before its stream ends with
/// [`FeedError::Lagged`].
pub const BROADCAST_CAPACITY: usize = 4096;

/// How often a feed reads its table when nothing wakes it earlier: how soon a change made by
/// another replica reaches this one's subscribers.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How long changes are kept for subscribers to resume from.
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often changes older than [`RETENTION`] are deleted.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

/// Most rows the tailer reads per query.
const POLL_BATCH: i64 = 1_000;

/// Rows a subscriber reads per query while catching up from the table.
const BACKLOG_PAGE: i64 = 256;

/// How long the tailer may keep failing before it warns (the table may not be migrated yet
/// right after start-up).
const WARN_AFTER_FAILING: Duration = Duration::from_secs(5);

/// The longest the tailer waits between attempts while the database fails.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);

/// One change: its version (the outbox row's sequence number, strictly increasing) and payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Change<T> {
    /// The outbox row's version.
    pub version: i64,
    /// The tenant the change belongs to.
    pub tenant: String,
    /// What changed.
    pub payload: T,
}

/// Appends a change to outbox `table` (schema-qualified, from code, never user input) and
/// returns its version. Call it inside the transaction that makes the change, so the change
/// and its outbox row commit together.
///
/// # Panics
///
/// If `table` is not a plain, optionally schema-qualified, lower-case identifier.
pub async fn append<T: prost::Message>(
    connection: &mut PgConnection,
    table: &'static str,
    tenant: &str,
    payload: &T,
) -> Result<i64, sqlx::Error> {
    // The transaction id is taken (in the materialized CTE) before the version (in the
    // insert): the feed's proof that a missing version was rolled back depends on it.
    let sql = format!(
        "with this_transaction as materialized (select pg_current_xact_id() as txid)
         insert into {table} (txid, tenant, payload)
         select txid, $1, $2 from this_transaction
         returning version",
        table = checked(table)
    );
    sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(tenant)
        .bind(payload.encode_to_vec())
        .fetch_one(connection)
        .await
}

/// Why a subscription could not start or ended.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The version asked for is older than the oldest change still kept: list again and watch
    /// from the new version.
    #[error(
        "changes after version {requested} are no longer kept (the oldest kept is {oldest_kept}); list again and watch from the version the list returns"
    )]
    TooOld {
        /// The version the subscriber asked to resume after.
        requested: i64,
        /// The oldest version still in the table.
        oldest_kept: i64,
    },
    /// This subscriber fell too far behind the live changes (it was not reading): start over.
    #[error(
        "the subscriber fell more than {BROADCAST_CAPACITY} changes behind; resume after the last version received"
    )]
    Lagged,
    /// The database failed.
    #[error("the change feed cannot read its table: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<FeedError> for crate::ServiceError {
    fn from(error: FeedError) -> Self {
        match error {
            FeedError::TooOld {
                requested,
                oldest_kept,
            } => Self::ResourceVersionTooOld {
                requested,
                oldest_kept,
            },
            FeedError::Lagged => Self::unavailable("change feed", error),
            FeedError::Database(error) => crate::db::classify(error),
        }
    }
}

/// Tails one outbox table and fans changes out to subscribers in version order, with no gaps
/// and no duplicates, also across transactions that commit out of version order.
///
/// Cloning is cheap; clones share the tailing task and its channel.
pub struct ChangeFeed<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for ChangeFeed<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for ChangeFeed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangeFeed")
            .field("table", &self.inner.table)
            .field("version", &self.inner.head.load(Ordering::SeqCst))
            .field("ready", &*self.inner.ready.borrow())
            .finish_non_exhaustive()
    }
}

/// What the tailing task and the subscriptions share.
struct Inner<T> {
    pool: PgPool,
    table: &'static str,
    sql: Queries,
    /// The highest version broadcast; every version up to it is settled (committed and
    /// visible, or never to appear). Stored before the change is sent.
    head: AtomicI64,
    /// Set once the tailer knows where the table's settled changes end.
    ready: watch::Sender<bool>,
    wake: Notify,
    /// Weak, so that the channel closes (and subscriptions end) when the tailer stops.
    sender: broadcast::WeakSender<Arc<Change<T>>>,
    shutdown: CancellationToken,
}

impl<T> Inner<T> {
    /// Waits until the tailer has started: true then, false if the feed shut down first.
    async fn started(&self) -> bool {
        let mut ready = self.ready.subscribe();
        tokio::select! {
            biased;
            () = self.shutdown.cancelled() => false,
            started = ready.wait_for(|ready| *ready) => started.is_ok(),
        }
    }
}

/// The SQL of one table, built once.
struct Queries {
    /// The newest version, and a transaction id taken after the snapshot that saw it.
    start: Arc<str>,
    /// The snapshot's xmin and the rows after `$1`, at most `$2`, in version order.
    poll: Arc<str>,
    /// A transaction id taken now: every transaction that has an id already is below it.
    horizon: Arc<str>,
    /// The oldest version kept and the rows in `($1, $2]`, at most `$3`, in version order.
    page: Arc<str>,
    /// Deletes the changes older than `$1` seconds up to version `$2`, keeping the newest.
    prune: Arc<str>,
}

impl Queries {
    fn new(table: &str) -> Self {
        Self {
            start: format!(
                "select coalesce(max(version), 0) as newest,
                        pg_current_xact_id()::text::bigint as horizon
                 from {table}"
            )
            .into(),
            poll: format!(
                "select snapshot.xmin, change.version, change.tenant, change.payload
                 from (select pg_snapshot_xmin(pg_current_snapshot())::text::bigint as xmin) as snapshot
                 left join lateral (
                     select version, tenant, payload from {table}
                     where version > $1 order by version limit $2
                 ) as change on true
                 order by change.version"
            )
            .into(),
            horizon: "select pg_current_xact_id()::text::bigint".into(),
            page: format!(
                "select kept.oldest, change.version, change.tenant, change.payload
                 from (select min(version) as oldest from {table}) as kept
                 left join lateral (
                     select version, tenant, payload from {table}
                     where version > $1 and version <= $2 order by version limit $3
                 ) as change on true
                 order by change.version"
            )
            .into(),
            // A prefix by version, so "the oldest kept version" says exactly what is gone.
            prune: format!(
                "delete from {table}
                 where version <= $2
                   and version < coalesce(
                       (select min(version) from {table}
                        where recorded_at >= now() - make_interval(secs => $1)),
                       (select max(version) from {table}))"
            )
            .into(),
        }
    }
}

impl<T: prost::Message + Default + Clone + Send + Sync + 'static> ChangeFeed<T> {
    /// Starts a background task (stopped by `shutdown`, or when the feed and all its
    /// subscriptions are dropped) that reads `table` every `poll_interval` (the services use
    /// [`POLL_INTERVAL`]) and at once after [`Self::notify`], and broadcasts its changes in
    /// version order.
    ///
    /// Until the task has read the table once (for example while the database is down or not
    /// yet migrated), [`Self::subscribe`] waits. Must be called inside a Tokio runtime.
    ///
    /// # Panics
    ///
    /// If `table` is not a plain, optionally schema-qualified, lower-case identifier.
    pub fn start(
        pool: PgPool,
        table: &'static str,
        poll_interval: Duration,
        shutdown: CancellationToken,
    ) -> Self {
        let (sender, _) = broadcast::channel(BROADCAST_CAPACITY);
        let inner = Arc::new(Inner {
            pool,
            table: checked(table),
            sql: Queries::new(table),
            head: AtomicI64::new(0),
            ready: watch::Sender::new(false),
            wake: Notify::new(),
            sender: sender.downgrade(),
            shutdown,
        });
        tokio::spawn(tail(Arc::clone(&inner), sender, poll_interval));
        Self { inner }
    }

    /// Wakes the tailer now (call after committing a change, so latency is not a poll interval).
    pub fn notify(&self) {
        self.inner.wake.notify_one();
    }

    /// The highest version broadcast so far (0 before the first).
    pub fn version(&self) -> i64 {
        self.inner.head.load(Ordering::SeqCst)
    }

    /// The table this feed tails.
    pub fn table(&self) -> &'static str {
        self.inner.table
    }

    /// Changes with version > `after`, in order: first the backlog from the table, then live
    /// ones, seamlessly. `after = None` means only changes from now on.
    ///
    /// Fails with [`FeedError::TooOld`] if `after` is below the oldest kept version minus one
    /// (changes after it may have been pruned). The table cannot tell a pruned version from
    /// a rolled-back one, so this errs on the safe side: it is also reported when the versions
    /// between `after` and the oldest kept one were all rolled back; the subscriber then lists
    /// again, which is always correct. The stream yields [`FeedError::Lagged`] and
    /// ends if the subscriber falls more than [`BROADCAST_CAPACITY`] changes behind, yields
    /// `TooOld` and ends if pruning overtakes it while it reads its backlog, and ends (`None`)
    /// when the feed shuts down. Waits until the feed has started (see [`Self::start`]); if
    /// the feed shuts down first, the stream is empty.
    pub async fn subscribe(&self, after: Option<i64>) -> Result<Subscription<T>, FeedError> {
        let inner = &self.inner;
        if !inner.started().await {
            return Ok(Subscription::ended());
        }
        let Some(sender) = inner.sender.upgrade() else {
            return Ok(Subscription::ended());
        };
        // Subscribe before reading the head: a change sent before this subscription has a
        // version at most the head (the head is stored before sending), so it is read from the
        // table; one sent after it arrives live and is skipped if the backlog had it.
        let live = BroadcastStream::new(sender.subscribe());
        drop(sender);
        let head = inner.head.load(Ordering::SeqCst);
        let start = after.unwrap_or(head);
        let mut subscription = Subscription {
            inner: Some(Arc::clone(inner)),
            position: start,
            read_to: start,
            backlog_end: head,
            buffer: VecDeque::new(),
            fetch: None,
            live: Some(live),
        };
        // A subscriber at or past the head has nothing to catch up on; nothing after the head
        // is pruned (see `prune`).
        if let Some(after) = after.filter(|after| *after < head) {
            let page = read_page(Arc::clone(inner), after, head).await?;
            if let Some(oldest_kept) = page.oldest
                && after < oldest_kept - 1
            {
                return Err(FeedError::TooOld {
                    requested: after,
                    oldest_kept,
                });
            }
            subscription.take_page(page);
        }
        Ok(subscription)
    }

    /// Deletes changes older than `keep` (by `recorded_at`), keeping at least the newest one;
    /// returns how many rows were deleted. Only a prefix of versions is deleted, so a change
    /// younger than `keep` is never deleted, and nor is one not yet broadcast.
    pub async fn prune(&self, keep: Duration) -> Result<u64, sqlx::Error> {
        let deleted = sqlx::query(AssertSqlSafe(Arc::clone(&self.inner.sql.prune)))
            .bind(keep.as_secs_f64())
            .bind(self.version())
            .execute(&self.inner.pool)
            .await?;
        Ok(deleted.rows_affected())
    }

    /// Runs [`Self::prune`] with `keep` once the feed has started and then every `every`,
    /// until the feed shuts down; failures are logged and retried at the next round.
    pub fn spawn_pruning(&self, every: Duration, keep: Duration) -> tokio::task::JoinHandle<()> {
        let feed = self.clone();
        tokio::spawn(async move {
            if !feed.inner.started().await {
                return;
            }
            let mut rounds = tokio::time::interval(every);
            rounds.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    biased;
                    () = feed.inner.shutdown.cancelled() => return,
                    _ = rounds.tick() => {}
                }
                match feed.prune(keep).await {
                    Ok(0) => {}
                    Ok(deleted) => {
                        tracing::info!(table = feed.inner.table, deleted, "pruned old changes");
                    }
                    Err(error) => {
                        tracing::warn!(table = feed.inner.table, %error, "cannot prune old changes");
                    }
                }
            }
        })
    }
}

/// The changes a subscriber receives: the stream [`ChangeFeed::subscribe`] returns.
///
/// Items are shared (`Arc`), so one change costs one allocation however many subscribers
/// there are. Besides being a stream, it tells how far it has got ([`Self::position`]),
/// which is the version a heartbeat or bookmark may carry.
pub struct Subscription<T> {
    /// `None` once the stream has ended.
    inner: Option<Arc<Inner<T>>>,
    /// Every change with a version up to this one has been yielded (or does not exist).
    position: i64,
    /// The table has been read up to this version; the rows read wait in `buffer`.
    read_to: i64,
    /// The backlog ends here; later versions come from the live channel.
    backlog_end: i64,
    buffer: VecDeque<Arc<Change<T>>>,
    fetch: Option<BoxFuture<'static, Result<Page<T>, FeedError>>>,
    live: Option<BroadcastStream<Arc<Change<T>>>>,
}

impl<T> fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("position", &self.position)
            .field("backlog_end", &self.backlog_end)
            .field("ended", &self.inner.is_none())
            .finish_non_exhaustive()
    }
}

impl<T> Subscription<T> {
    fn ended() -> Self {
        Self {
            inner: None,
            position: 0,
            read_to: 0,
            backlog_end: 0,
            buffer: VecDeque::new(),
            fetch: None,
            live: None,
        }
    }

    /// Every change up to this version has been yielded; resuming after it loses nothing.
    /// It starts at the version the subscription started after.
    pub fn position(&self) -> i64 {
        self.position
    }

    fn take_page(&mut self, page: Page<T>) {
        self.read_to = if page.rows < BACKLOG_PAGE {
            self.backlog_end.max(self.read_to)
        } else {
            page.last_version.unwrap_or(self.read_to)
        };
        self.buffer.extend(page.changes);
    }

    /// Ends the stream, releasing what it holds, after yielding `item`.
    fn end(
        &mut self,
        item: Option<Result<Arc<Change<T>>, FeedError>>,
    ) -> Poll<Option<Result<Arc<Change<T>>, FeedError>>> {
        self.inner = None;
        self.fetch = None;
        self.live = None;
        self.buffer = VecDeque::new();
        Poll::Ready(item)
    }
}

impl<T: prost::Message + Default + Send + Sync + 'static> Stream for Subscription<T> {
    type Item = Result<Arc<Change<T>>, FeedError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            let Some(inner) = &this.inner else {
                return Poll::Ready(None);
            };
            if let Some(change) = this.buffer.pop_front() {
                this.position = change.version;
                return Poll::Ready(Some(Ok(change)));
            }
            this.position = this.position.max(this.read_to);
            if this.read_to < this.backlog_end {
                let (inner, after, until) = (Arc::clone(inner), this.read_to, this.backlog_end);
                let fetch = this
                    .fetch
                    .get_or_insert_with(|| read_page(inner, after, until).boxed());
                let page = match fetch.poll_unpin(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(page) => page,
                };
                this.fetch = None;
                match page {
                    Err(error) => return this.end(Some(Err(error))),
                    Ok(page) => {
                        if let Some(oldest_kept) = page.oldest
                            && this.read_to < oldest_kept - 1
                        {
                            let requested = this.read_to;
                            return this.end(Some(Err(FeedError::TooOld {
                                requested,
                                oldest_kept,
                            })));
                        }
                        this.take_page(page);
                        continue;
                    }
                }
            }
            if this.buffer.capacity() > 0 {
                // Caught up with the table: give the page buffer back.
                this.buffer = VecDeque::new();
            }
            let Some(live) = &mut this.live else {
                return this.end(None);
            };
            match live.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return this.end(None),
                Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(_)))) => {
                    return this.end(Some(Err(FeedError::Lagged)));
                }
                Poll::Ready(Some(Ok(change))) => {
                    if change.version > this.position {
                        this.position = change.version;
                        return Poll::Ready(Some(Ok(change)));
                    }
                }
            }
        }
    }
}

/// Rows of the table read by a subscriber catching up.
struct Page<T> {
    /// The oldest version still kept, read in the same snapshot as the rows.
    oldest: Option<i64>,
    /// The rows that decoded.
    changes: Vec<Arc<Change<T>>>,
    /// All rows read, including ones that did not decode.
    rows: i64,
    last_version: Option<i64>,
}

async fn read_page<T: prost::Message + Default>(
    inner: Arc<Inner<T>>,
    after: i64,
    until: i64,
) -> Result<Page<T>, FeedError> {
    let rows = sqlx::query(AssertSqlSafe(Arc::clone(&inner.sql.page)))
        .bind(after)
        .bind(until)
        .bind(BACKLOG_PAGE)
        .fetch_all(&inner.pool)
        .await?;
    let mut page = Page {
        oldest: None,
        changes: Vec::with_capacity(rows.len()),
        rows: 0,
        last_version: None,
    };
    for row in &rows {
        page.oldest = row.try_get("oldest")?;
        let Some(version) = row.try_get::<Option<i64>, _>("version")? else {
            break;
        };
        page.rows += 1;
        page.last_version = Some(version);
        if let Some(change) = decode(inner.table, version, row)? {
            page.changes.push(Arc::new(change));
        }
    }
    Ok(page)
}

/// The change in `row`, or `None` (logged) when its payload does not decode.
fn decode<T: prost::Message + Default>(
    table: &str,
    version: i64,
    row: &PgRow,
) -> Result<Option<Change<T>>, sqlx::Error> {
    let tenant: String = row.try_get("tenant")?;
    let payload: Vec<u8> = row.try_get("payload")?;
    match T::decode(payload.as_slice()) {
        Ok(payload) => Ok(Some(Change {
            version,
            tenant,
            payload,
        })),
        Err(error) => {
            tracing::error!(
                table,
                version,
                %tenant,
                %error,
                "skipping a change whose payload cannot be decoded (a bug: an incompatible message was appended)"
            );
            Ok(None)
        }
    }
}

/// The tailing task: reads the table and broadcasts, until shutdown.
async fn tail<T: prost::Message + Default + Send + Sync + 'static>(
    inner: Arc<Inner<T>>,
    sender: broadcast::Sender<Arc<Change<T>>>,
    poll_interval: Duration,
) {
    let mut tailer = Tailer::default();
    let mut failing_since: Option<(Instant, bool)> = None;
    let mut retry_delay = poll_interval;
    loop {
        // Nobody can subscribe any more once only this task holds the feed.
        if Arc::strong_count(&inner) == 1 {
            break;
        }
        let step = tokio::select! {
            biased;
            () = inner.shutdown.cancelled() => break,
            step = tailer.step(&inner, &sender) => step,
        };
        let wait = match step {
            Ok(Step::More) => continue,
            Ok(Step::Idle) => {
                if let Some((_, true)) = failing_since.take() {
                    tracing::info!(table = inner.table, "change feed reads its table again");
                }
                retry_delay = poll_interval;
                poll_interval
            }
            Err(error) => {
                let (since, warned) = failing_since.get_or_insert((Instant::now(), false));
                if !*warned && since.elapsed() >= WARN_AFTER_FAILING {
                    *warned = true;
                    tracing::warn!(table = inner.table, %error, "change feed cannot read its table; retrying");
                } else {
                    tracing::debug!(table = inner.table, %error, "change feed cannot read its table; retrying");
                }
                retry_delay = (retry_delay * 2).clamp(poll_interval, MAX_RETRY_DELAY);
                retry_delay
            }
        };
        tokio::select! {
            biased;
            () = inner.shutdown.cancelled() => break,
            () = inner.wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
    tracing::debug!(table = inner.table, "change feed stopped");
}

/// Whether the tailer should read again at once.
enum Step {
    /// A full batch was read: there may be more.
    More,
    /// Caught up, or waiting for a missing version to settle.
    Idle,
}

/// The tailer's position in the table.
#[derive(Debug, Default)]
struct Tailer {
    /// The last settled version; `None` before the table was first read.
    cursor: Option<i64>,
    /// At start-up, versions up to the cursor settle once the snapshot's xmin reaches this.
    settle: Option<i64>,
    /// What is known about the versions of the gap the tailer waits at.
    proof: Option<Proof>,
}

/// Every version below `below` was taken by a transaction whose id is below `horizon`.
#[derive(Debug, Clone, Copy)]
struct Proof {
    below: i64,
    horizon: i64,
}

impl Tailer {
    async fn step<T: prost::Message + Default>(
        &mut self,
        inner: &Inner<T>,
        sender: &broadcast::Sender<Arc<Change<T>>>,
    ) -> Result<Step, sqlx::Error> {
        let Some(mut cursor) = self.cursor else {
            // Start after the newest row; rows below it that are still uncommitted belong to
            // transactions below the horizon, so wait for those to end before serving.
            let row = sqlx::query(AssertSqlSafe(Arc::clone(&inner.sql.start)))
                .fetch_one(&inner.pool)
                .await?;
            self.cursor = Some(row.try_get("newest")?);
            self.settle = Some(row.try_get("horizon")?);
            return Ok(Step::More);
        };
        let rows = sqlx::query(AssertSqlSafe(Arc::clone(&inner.sql.poll)))
            .bind(cursor)
            .bind(POLL_BATCH)
            .fetch_all(&inner.pool)
            .await?;
        let Some(first) = rows.first() else {
            return Ok(Step::Idle);
        };
        let xmin: i64 = first.try_get("xmin")?;
        if let Some(settle) = self.settle {
            if xmin < settle {
                return Ok(Step::Idle);
            }
            self.settle = None;
            inner.head.store(cursor, Ordering::SeqCst);
            inner.ready.send_replace(true);
            tracing::debug!(table = inner.table, version = cursor, "change feed started");
        }
        let mut read = 0;
        for row in &rows {
            let Some(version) = row.try_get::<Option<i64>, _>("version")? else {
                break;
            };
            read += 1;
            if version != cursor + 1 {
                let missing = cursor + 1;
                let Some(proof) = self.proof.filter(|proof| missing < proof.below) else {
                    // The versions up to `version` were taken by transactions that have their
                    // ids already: mark the ids handed out so far, and look again at once.
                    let horizon: i64 =
                        sqlx::query_scalar(AssertSqlSafe(Arc::clone(&inner.sql.horizon)))
                            .fetch_one(&inner.pool)
                            .await?;
                    self.proof = Some(Proof {
                        below: version,
                        horizon,
                    });
                    return Ok(Step::More);
                };
                if xmin < proof.horizon {
                    // The transaction that took `missing` may still be running.
                    return Ok(Step::Idle);
                }
                tracing::debug!(
                    table = inner.table,
                    from = missing,
                    to = version - 1,
                    "versions rolled back"
                );
            }
            cursor = version;
            self.cursor = Some(version);
            let change = decode(inner.table, version, row)?;
            // The head first: see `ChangeFeed::subscribe`.
            inner.head.store(version, Ordering::SeqCst);
            if let Some(change) = change {
                // No receivers is not an error.
                let _ = sender.send(Arc::new(change));
            }
        }
        Ok(if read == POLL_BATCH {
            Step::More
        } else {
            Step::Idle
        })
    }
}

/// `table` if it is a plain, optionally schema-qualified, lower-case identifier.
fn checked(table: &'static str) -> &'static str {
    let identifier = |part: &str| {
        part.chars()
            .next()
            .is_some_and(|first| first.is_ascii_lowercase() || first == '_')
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let parts: Vec<&str> = table.split('.').collect();
    assert!(
        parts.len() <= 2 && parts.iter().all(|part| identifier(part)),
        "{table:?} is not a table name"
    );
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_plain_identifiers() {
        assert_eq!(checked("metrics.outbox"), "metrics.outbox");
        assert_eq!(checked("outbox_2"), "outbox_2");
        for bad in ["", "a.b.c", "Metrics.outbox", "x; drop table y", "a.", "1a"] {
            assert!(
                std::panic::catch_unwind(|| checked(bad)).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_subscription_is_small() {
        // The part each subscriber owns besides its share of the channel: 10,000 of them must
        // fit in well under 100 MB.
        let size = std::mem::size_of::<Subscription<devokr_proto::prost_types::Timestamp>>();
        assert!(size <= 256, "{size} bytes");
    }

    #[test]
    fn feed_errors_map_to_statuses() {
        let status = tonic::Status::from(crate::ServiceError::from(FeedError::TooOld {
            requested: 3,
            oldest_kept: 10,
        }));
        assert_eq!(status.code(), tonic::Code::OutOfRange);
        let status = tonic::Status::from(crate::ServiceError::from(FeedError::Lagged));
        assert_eq!(status.code(), tonic::Code::Unavailable);
    }
}
