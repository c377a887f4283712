//! Routing a change feed to the subscribers that want each change.
//!
//! A [`Subscription`] of a [`ChangeFeed`] sees every change, so with 10,000 watches each
//! change would wake 10,000 streams only for nearly all of them to drop it. A [`Fanout`]
//! follows the feed once, reads the keys each change carries (say, its key result, objective
//! and cycle) and hands it only to the subscribers of those keys: a change costs what its
//! interested subscribers cost, however many others there are.
//!
//! A [`Routed`] subscription keeps the feed's guarantees: the changes of its keys with a
//! version after the one it starts from, in version order, each once, first from the table
//! (when resuming) and then live, seamlessly. A subscriber that falls more than
//! [`BROADCAST_CAPACITY`] changes behind ends with [`FeedError::Lagged`], as on the feed.

use std::{
    collections::{HashMap, HashSet},
    fmt,
    hash::Hash,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll},
    time::Duration,
};

use futures::{Stream, StreamExt};
use tokio::sync::{mpsc, watch};

use crate::outbox::{BROADCAST_CAPACITY, Change, ChangeFeed, FeedError, Subscription};

/// How long the router waits before following the feed again after the database failed.
const RETRY_DELAY: Duration = Duration::from_millis(200);

/// Routes the changes of a [`ChangeFeed`] to subscribers by key. Cloning is cheap; clones
/// share the routing task.
pub struct Fanout<K, T> {
    inner: Arc<Inner<K, T>>,
}

impl<K, T> Clone for Fanout<K, T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K, T> fmt::Debug for Fanout<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let routes = self.inner.lock();
        f.debug_struct("Fanout")
            .field("position", &routes.position)
            .field("keys", &routes.by_key.len())
            .finish_non_exhaustive()
    }
}

/// The keys a change is routed by.
type KeysOf<K, T> = dyn Fn(&T) -> Vec<K> + Send + Sync;

struct Inner<K, T> {
    feed: ChangeFeed<T>,
    keys_of: Box<KeysOf<K, T>>,
    routes: Mutex<Routes<K, T>>,
    /// Bumped whenever `routes.position` becomes known again, so subscribers waiting for the
    /// router to (re)start wake up.
    restarted: watch::Sender<u64>,
}

impl<K, T> Inner<K, T> {
    fn lock(&self) -> MutexGuard<'_, Routes<K, T>> {
        self.routes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Who wants which changes.
struct Routes<K, T> {
    /// Every change up to this version has been routed; `None` while the router is (re)starting.
    position: Option<i64>,
    next_id: u64,
    by_key: HashMap<K, Vec<Subscriber<T>>>,
}

struct Subscriber<T> {
    id: u64,
    sender: mpsc::Sender<Arc<Change<T>>>,
}

impl<K: Eq + Hash, T> Routes<K, T> {
    /// Hands `change` to each subscriber of one of `keys`, once, and drops the subscribers
    /// that fell behind (their streams end with [`FeedError::Lagged`]).
    fn route(&mut self, change: &Arc<Change<T>>, keys: &[K]) {
        // Sets: one cycle's key can have thousands of watches, and this runs under the lock.
        let mut served: HashSet<u64> = HashSet::new();
        let mut lagged: HashSet<u64> = HashSet::new();
        for key in keys {
            let Some(subscribers) = self.by_key.get(key) else {
                continue;
            };
            for subscriber in subscribers {
                if !served.insert(subscriber.id) {
                    continue;
                }
                match subscriber.sender.try_send(Arc::clone(change)) {
                    Ok(()) => {}
                    // Full: it fell behind. Closed: its stream is being dropped.
                    Err(
                        mpsc::error::TrySendError::Full(_) | mpsc::error::TrySendError::Closed(_),
                    ) => {
                        lagged.insert(subscriber.id);
                    }
                }
            }
        }
        if !lagged.is_empty() {
            self.by_key.retain(|_, subscribers| {
                subscribers.retain(|subscriber| !lagged.contains(&subscriber.id));
                !subscribers.is_empty()
            });
        }
        self.position = Some(change.version);
    }

    fn remove(&mut self, id: u64, keys: &[K]) {
        for key in keys {
            if let Some(subscribers) = self.by_key.get_mut(key) {
                subscribers.retain(|subscriber| subscriber.id != id);
                if subscribers.is_empty() {
                    self.by_key.remove(key);
                }
            }
        }
    }
}

impl<K, T> Fanout<K, T>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    T: prost::Message + Default + Clone + Send + Sync + 'static,
{
    /// Starts a task that follows `feed` and routes each change by the keys `keys_of` reads
    /// from it. The task ends when the feed shuts down. Must be called inside a Tokio runtime.
    pub fn start(
        feed: ChangeFeed<T>,
        keys_of: impl Fn(&T) -> Vec<K> + Send + Sync + 'static,
    ) -> Self {
        let inner = Arc::new(Inner {
            feed,
            keys_of: Box::new(keys_of),
            routes: Mutex::new(Routes {
                position: None,
                next_id: 0,
                by_key: HashMap::new(),
            }),
            restarted: watch::Sender::new(0),
        });
        tokio::spawn(follow(Arc::clone(&inner)));
        Self { inner }
    }

    /// The changes carrying any of `keys` with a version after `after` (from now on when
    /// `None`), in version order, each once. [`Routed::start`] tells the version it starts
    /// after. Fails with [`FeedError::TooOld`] when changes after `after` are no longer kept.
    pub async fn subscribe(
        &self,
        keys: Vec<K>,
        after: Option<i64>,
    ) -> Result<Routed<K, T>, FeedError> {
        let mut restarted = self.inner.restarted.subscribe();
        let (sender, live) = mpsc::channel(BROADCAST_CAPACITY);
        let (id, routed_from) = loop {
            {
                let mut routes = self.inner.lock();
                if let Some(position) = routes.position {
                    let id = routes.next_id;
                    routes.next_id += 1;
                    for key in &keys {
                        routes
                            .by_key
                            .entry(key.clone())
                            .or_default()
                            .push(Subscriber {
                                id,
                                sender: sender.clone(),
                            });
                    }
                    break (id, position);
                }
            }
            // The router is (re)starting; it ends only when the feed has shut down.
            if restarted.changed().await.is_err() {
                return Ok(Routed::ended());
            }
        };
        drop(sender);
        let registration = Registration {
            inner: Arc::clone(&self.inner),
            id,
            keys,
        };
        let start = after.unwrap_or(routed_from);
        // Changes up to `routed_from` were routed before this subscriber was registered: read
        // those after `start` from the table.
        let backlog = if start < routed_from {
            Some(self.inner.feed.subscribe(Some(start)).await?)
        } else {
            None
        };
        Ok(Routed {
            start,
            position: start,
            backlog_until: routed_from,
            backlog,
            live: Some(live),
            registration: Some(registration),
        })
    }
}

/// The routing task: follows the feed from where it got to, across lagging and database
/// failures, until the feed shuts down.
async fn follow<K, T>(inner: Arc<Inner<K, T>>)
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    T: prost::Message + Default + Clone + Send + Sync + 'static,
{
    let mut after: Option<i64> = None;
    loop {
        let mut changes = match inner.feed.subscribe(after).await {
            Ok(changes) => changes,
            Err(error) => {
                tracing::warn!(table = inner.feed.table(), %error, "change router cannot follow its feed; retrying");
                // Changes after `after` may be gone: every subscriber starts over.
                restart(&inner);
                after = None;
                tokio::time::sleep(RETRY_DELAY).await;
                continue;
            }
        };
        if after.is_none() {
            inner.lock().position = Some(changes.position());
            inner.restarted.send_modify(|count| *count += 1);
        }
        let mut keys = Vec::new();
        loop {
            match changes.next().await {
                Some(Ok(change)) => {
                    keys.clear();
                    keys.extend((inner.keys_of)(&change.payload));
                    inner.lock().route(&change, &keys);
                }
                // Fell behind the live feed: follow it again from the table, losing nothing.
                Some(Err(FeedError::Lagged)) => break,
                Some(Err(error)) => {
                    tracing::warn!(table = inner.feed.table(), %error, "change router lost its feed; subscribers start over");
                    restart(&inner);
                    break;
                }
                None => {
                    // The feed has shut down: so do the subscriptions.
                    restart(&inner);
                    return;
                }
            }
        }
        after = inner.lock().position;
    }
}

/// Ends every subscription (with [`FeedError::Lagged`], so each resumes) and makes new ones
/// wait until the router knows its position again.
fn restart<K, T>(inner: &Inner<K, T>) {
    let mut routes = inner.lock();
    routes.position = None;
    routes.by_key.clear();
}

/// Removes a subscriber from the routes when its stream is dropped.
struct Registration<K: Eq + Hash, T> {
    inner: Arc<Inner<K, T>>,
    id: u64,
    keys: Vec<K>,
}

impl<K: Eq + Hash, T> Drop for Registration<K, T> {
    fn drop(&mut self) {
        self.inner.lock().remove(self.id, &self.keys);
    }
}

/// The changes of some keys: the stream [`Fanout::subscribe`] returns.
pub struct Routed<K: Eq + Hash, T> {
    start: i64,
    /// Every change of the keys up to this version has been yielded.
    position: i64,
    /// Changes up to this version come from `backlog`, later ones from `live`.
    backlog_until: i64,
    backlog: Option<Subscription<T>>,
    /// `None` once the stream has ended.
    live: Option<mpsc::Receiver<Arc<Change<T>>>>,
    registration: Option<Registration<K, T>>,
}

impl<K: Eq + Hash, T> fmt::Debug for Routed<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Routed")
            .field("start", &self.start)
            .field("position", &self.position)
            .field("ended", &self.live.is_none())
            .finish_non_exhaustive()
    }
}

impl<K: Eq + Hash, T> Routed<K, T> {
    fn ended() -> Self {
        Self {
            start: 0,
            position: 0,
            backlog_until: 0,
            backlog: None,
            live: None,
            registration: None,
        }
    }

    /// The version this subscription started after: a bookmark for a client that starts now.
    pub fn start(&self) -> i64 {
        self.start
    }

    fn end(&mut self, item: Option<FeedError>) -> Poll<Option<Result<Arc<Change<T>>, FeedError>>> {
        self.backlog = None;
        self.live = None;
        self.registration = None;
        Poll::Ready(item.map(Err))
    }
}

impl<K, T> Stream for Routed<K, T>
where
    K: Eq + Hash + Unpin,
    T: prost::Message + Default + Send + Sync + 'static,
{
    type Item = Result<Arc<Change<T>>, FeedError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.live.is_none() {
            return Poll::Ready(None);
        }
        // The backlog: changes routed before this subscriber registered, read from the table
        // and picked by the same keys.
        while let Some(backlog) = &mut this.backlog {
            if backlog.position() >= this.backlog_until {
                this.backlog = None;
                break;
            }
            match backlog.poll_next_unpin(cx) {
                Poll::Pending => {
                    if backlog.position() >= this.backlog_until {
                        this.backlog = None;
                        break;
                    }
                    return Poll::Pending;
                }
                Poll::Ready(None) => return this.end(None),
                Poll::Ready(Some(Err(error))) => return this.end(Some(error)),
                Poll::Ready(Some(Ok(change))) => {
                    if change.version > this.backlog_until {
                        // Routed live as well: the live channel has it.
                        this.backlog = None;
                        break;
                    }
                    let registration = this.registration.as_ref();
                    let wanted = registration.is_some_and(|registration| {
                        let keys: HashSet<&K> = registration.keys.iter().collect();
                        (registration.inner.keys_of)(&change.payload)
                            .iter()
                            .any(|key| keys.contains(key))
                    });
                    this.position = change.version;
                    if wanted {
                        return Poll::Ready(Some(Ok(change)));
                    }
                }
            }
        }
        let Some(live) = &mut this.live else {
            return Poll::Ready(None);
        };
        loop {
            match live.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                // Dropped by the router: this subscriber fell behind, or the router restarts.
                Poll::Ready(None) => return this.end(Some(FeedError::Lagged)),
                Poll::Ready(Some(change)) => {
                    if change.version > this.position {
                        this.position = change.version;
                        return Poll::Ready(Some(Ok(change)));
                    }
                }
            }
        }
    }
}
