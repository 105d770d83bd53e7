//! The change feed across servers. Every server's writer takes its
//! events' sequences from one row of the database just before it commits
//! (`feed_head`), so the feed table's order is the order of commits. Each
//! server fills its in-memory [`Feed`] (what WatchCases and webhooks
//! read) in that order: its own batches as they commit, and other
//! servers' events read from the table when a notification says there is
//! something new (LISTEN/NOTIFY), or at the latest when the poll interval
//! passes (the fallback where the database has no LISTEN, e.g.
//! CockroachDB).

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;
use wangge_policy::CaseEvent;
use wangge_store::{decode, Feed, StoreError};

use crate::sql::{self, Stats};

/// The notification channel; the payload is `SCHEMA:SERVER`, the schema
/// written and the server that wrote.
pub(crate) const CHANNEL: &str = "wangge_feed";

/// The notifications a server reads: its schema's, written by others.
pub(crate) struct Wanted {
    pub(crate) schema: String,
    pub(crate) own: String,
}

impl Wanted {
    fn wants(&self, payload: &str) -> bool {
        payload
            .split_once(':')
            .is_some_and(|(schema, by)| schema == self.schema && by != self.own)
    }
}

/// Rows read from the feed table at a time.
const PAGE: i64 = 1000;

/// Fills a server's [`Feed`] from the database in the feed's order.
pub(crate) struct Follower {
    pool: Pool,
    schema: String,
    feed: Arc<Feed>,
    stats: Arc<Stats>,
    /// One reader at a time, so sequences are published once and in order.
    turn: tokio::sync::Mutex<()>,
}

impl Follower {
    pub(crate) fn new(pool: Pool, schema: String, feed: Arc<Feed>, stats: Arc<Stats>) -> Follower {
        Follower {
            pool,
            schema,
            feed,
            stats,
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// Publishes this server's committed `events`, which hold the
    /// sequences from `first` on: first whatever other servers committed
    /// before them (read from the table), then these (unless a read
    /// already brought them). A failed read leaves them to the follower's
    /// next round: they are committed, the feed catches up when it can.
    pub(crate) async fn publish_own(&self, first: u64, events: Vec<Arc<CaseEvent>>) {
        let _turn = self.turn.lock().await;
        if self.feed.next_sequence() < first {
            if let Err(e) = self.read(Some(first)).await {
                tracing::warn!(error = %e, "the change feed could not be read; it catches up later");
                return;
            }
        }
        let next = self.feed.next_sequence();
        if next < first {
            return;
        }
        let skip = usize::try_from(next - first).unwrap_or(usize::MAX);
        let rest: Vec<_> = events.into_iter().skip(skip).collect();
        self.feed.publish(rest);
    }

    /// Reads the feed table from the next sequence this server has not
    /// published, up to `end` (exclusive) or its end, and publishes it.
    async fn read(&self, end: Option<u64>) -> Result<(), StoreError> {
        let schema = &self.schema;
        let sql = format!(
            "SELECT f.sequence, e.record FROM {schema}.feed f \
             JOIN {schema}.events e ON e.case_id = f.case_id AND e.seq = f.seq \
             WHERE f.sequence >= $1 AND f.sequence < $2 ORDER BY f.sequence LIMIT $3"
        );
        let end = end.map_or(i64::MAX, |e| i64::try_from(e).unwrap_or(i64::MAX));
        loop {
            let next = self.feed.next_sequence();
            let from = i64::try_from(next).unwrap_or(i64::MAX);
            let rows =
                sql::rows(&self.pool, &self.stats, &sql, &[&from, &end, &PAGE], "feed").await?;
            let mut events = Vec::with_capacity(rows.len());
            for (i, r) in rows.iter().enumerate() {
                let seq: u64 = crate::cases::stored(r.get(0), "feed sequence")?;
                if seq != next + i as u64 {
                    return Err(StoreError::corrupt(format!(
                        "the change feed skips from {} to {seq}",
                        next + i as u64
                    )));
                }
                events.push(Arc::new(decode::<CaseEvent>(r.get::<_, &[u8]>(1))?));
            }
            let full = events.len() as i64 == PAGE;
            self.feed.publish(events);
            if !full {
                return Ok(());
            }
        }
    }

    /// Reads the table whenever nudged, and every `poll` anyway.
    pub(crate) async fn run(self: Arc<Self>, nudge: Arc<Notify>, poll: Duration) {
        loop {
            tokio::select! {
                () = nudge.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
            let _turn = self.turn.lock().await;
            if let Err(e) = self.read(None).await {
                tracing::debug!(error = %e, "reading the change feed failed; retried");
            }
        }
    }
}

/// Listens for other servers' commits on a connection of its own and
/// nudges the follower; reconnects after a second when the connection is
/// lost. Where the database has no LISTEN, it says so and stops: the
/// follower's polling is what remains.
pub(crate) async fn listen(config: tokio_postgres::Config, wanted: Wanted, nudge: Arc<Notify>) {
    let wanted = Arc::new(wanted);
    loop {
        if let Ok((client, mut conn)) = config.connect(tokio_postgres::NoTls).await {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let wanted = wanted.clone();
            let driver = tokio::spawn(async move {
                while let Some(m) = std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                    match m {
                        Ok(AsyncMessage::Notification(n)) if wanted.wants(n.payload()) => {
                            if tx.send(()).is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                        Err(_) => return,
                    }
                }
            });
            match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                Ok(()) => {
                    while rx.recv().await.is_some() {
                        nudge.notify_one();
                    }
                }
                Err(e) => {
                    tracing::info!(error = %e, "no LISTEN on this database: the change feed is polled");
                    driver.abort();
                    return;
                }
            }
            driver.abort();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
