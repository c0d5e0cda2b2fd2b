//! `mode = "per_session"`: each client session gets a process of its own.
//!
//! The process starts on the client's `initialize` and is the session: the
//! gateway's token names it, a DELETE or `idle_timeout` stops it (in the
//! spec's order), and if it dies the session is over (the client gets 404 and
//! starts again). `max_processes` caps how many run at once; past it a new
//! session gets 503 with `Retry-After`. Such a session lives on the replica
//! that started it.
//!
//! Each process is an instance of the live table at the lowest free place
//! (`stdio://session/{place}`), probed like a pooled one. Its session is
//! pinned to it whatever its health, as an HTTP session is to its instance;
//! draining it only says what is true of every session's process anyway: it
//! takes no new session, and its own may finish. A hung one is recycled by
//! the probes' timeouts, which ends its session (the client gets 404 and
//! starts again).
//!
//! A session's id, which its token carries, is drawn at random and not
//! counted. Tokens are sealed under `session_key`, which outlives a restart
//! and is shared by replicas: counted ids would start again at 1, so a token
//! from before a restart, or from another replica, would name whoever now
//! holds its number, and one client's requests (and its DELETE) would reach
//! another client's process. A random id names no live session, so such a
//! token gets 404 and its client re-initializes, as the spec asks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::handshake::Handshake;
use super::pool;
use super::process::Process;
use super::supervisor::{self, HANDSHAKE_TIMEOUT, Lifecycle, Slot};
use crate::config;
use crate::error::GatewayError;
use crate::table::Instance;

/// How long a client is told to wait when every process slot is taken.
const RETRY_AFTER_SECS: u64 = 5;

struct Session {
    slot: Arc<Slot>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    /// Milliseconds after `Sessions::epoch` when the session was last used.
    last_used: AtomicU64,
}

/// The processes of a per-session backend, by session.
pub struct Sessions {
    cfg: Arc<config::Backend>,
    changes: broadcast::Sender<Bytes>,
    /// The live sessions, by id (see [`fresh_id`]).
    map: Mutex<HashMap<u64, Arc<Session>>>,
    epoch: Instant,
    /// Which places (`0..max_processes`) are taken.
    places: Mutex<Vec<bool>>,
}

impl Sessions {
    /// An empty set for this backend.
    pub fn new(cfg: Arc<config::Backend>, changes: broadcast::Sender<Bytes>) -> Arc<Sessions> {
        Arc::new(Sessions {
            cfg,
            changes,
            map: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
            places: Mutex::new(Vec::new()),
        })
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Processes running now.
    pub fn len(&self) -> usize {
        self.map.lock().map_or(0, |m| m.len())
    }

    /// `max_processes`.
    pub fn capacity(&self) -> usize {
        self.cfg.max_processes
    }

    /// Starts a process for a new session and waits for its handshake.
    pub async fn open(&self) -> Result<(u64, Arc<Handshake>), GatewayError> {
        let place = self.take_place().ok_or(GatewayError::Overloaded(RETRY_AFTER_SECS))?;
        let instance = pool::instance(self.cfg.name.get_ref(), true, place, self.epoch);
        let slot = Arc::new(Slot::new(instance));
        let (stop, stop_rx) = watch::channel(false);
        // Created before the supervisor starts, so its wake-up cannot be missed.
        let settled = slot.settled.notified();
        let id = match self.admit(&slot, stop, stop_rx) {
            Ok(id) => id,
            Err(e) => {
                self.free_place(place);
                return Err(e);
            }
        };
        let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT + Duration::from_secs(1), settled).await;
        match slot.upstream.load_full() {
            Some(upstream) if slot.current.load().is_some() => Ok((id, upstream)),
            _ => {
                let why =
                    slot.last_error.load_full().map_or_else(|| "the process did not start".into(), |e| e.to_string());
                self.close(id).await;
                Err(GatewayError::UpstreamConnect(why))
            }
        }
    }

    /// The lowest free place, taken.
    fn take_place(&self) -> Option<usize> {
        let mut places = self.places.lock().ok()?;
        let free = places.iter().position(|taken| !taken);
        let place = match free {
            Some(p) => p,
            None if places.len() < self.cfg.max_processes => {
                places.push(false);
                places.len() - 1
            }
            None => return None,
        };
        places[place] = true;
        Some(place)
    }

    fn free_place(&self, place: usize) {
        if let Ok(mut places) = self.places.lock()
            && let Some(taken) = places.get_mut(place)
        {
            *taken = false;
        }
    }

    /// Takes a session under `max_processes`, with a fresh id, and starts
    /// its supervisor and probes; returns the id.
    fn admit(
        &self,
        slot: &Arc<Slot>,
        stop: watch::Sender<bool>,
        stop_rx: watch::Receiver<bool>,
    ) -> Result<u64, GatewayError> {
        let mut map = self.map.lock().map_err(|_| GatewayError::UpstreamFailed("session table poisoned".into()))?;
        if map.len() >= self.cfg.max_processes {
            return Err(GatewayError::Overloaded(RETRY_AFTER_SECS));
        }
        // Drawn under the lock, so no other session can take it meanwhile.
        // Drawn as a `usize`, so that every draw fits.
        let id = fresh_id(|| rand::random_range(1..=usize::MAX) as u64, |id| map.contains_key(&id));
        let task = tokio::spawn(supervisor::supervise(
            usize::try_from(id).unwrap_or(usize::MAX),
            slot.clone(),
            self.cfg.clone(),
            self.changes.clone(),
            stop_rx.clone(),
            Lifecycle::Once,
        ));
        // Ends with the session's `stop`, like the supervisor.
        tokio::spawn(super::probe::run(slot.clone(), self.cfg.clone(), vec![slot.instance.record.clone()], stop_rx));
        let session = Session {
            slot: slot.clone(),
            stop,
            task: Mutex::new(Some(task)),
            last_used: AtomicU64::new(self.now_ms()),
        };
        map.insert(id, Arc::new(session));
        Ok(id)
    }

    /// The live process of session `id`, marking the session used.
    pub fn process(&self, id: u64) -> Option<Arc<Process>> {
        self.serving(id).map(|(p, _)| p)
    }

    /// The live process of session `id` and its row, marking the session used.
    pub fn serving(&self, id: u64) -> Option<(Arc<Process>, Arc<Instance>)> {
        let session = self.map.lock().ok()?.get(&id).cloned()?;
        session.last_used.store(self.now_ms(), Ordering::Relaxed);
        let process = session.slot.current.load_full().filter(|p| p.is_alive())?;
        Some((process, session.slot.instance.clone()))
    }

    /// The rows of the running sessions' processes, by place.
    pub fn instances(&self) -> Vec<Arc<Instance>> {
        let mut rows: Vec<Arc<Instance>> =
            self.map.lock().map_or_else(|_| Vec::new(), |m| m.values().map(|s| s.slot.instance.clone()).collect());
        rows.sort_by_key(|i| i.index);
        rows
    }

    /// Stops session `id`'s process in the spec's order and forgets it.
    pub async fn close(&self, id: u64) -> bool {
        let Some(session) = self.map.lock().ok().and_then(|mut m| m.remove(&id)) else { return false };
        let _ = session.stop.send(true);
        let task = session.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
        // The place's metric series outlives the session: it must not say up.
        session.slot.instance.record.metrics().set_up(false);
        self.free_place(session.slot.instance.index);
        true
    }

    /// Stops sessions unused for `idle_timeout`, and forgets those whose
    /// process has ended. Runs until the backend is dropped.
    pub async fn reap(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let idle = self.cfg.idle_timeout.0;
        let every = (idle / 4).max(Duration::from_millis(50));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => break,
            }
            let now = self.now_ms();
            let expired: Vec<u64> = self.map.lock().map_or_else(
                |_| Vec::new(),
                |m| {
                    m.iter()
                        .filter(|(_, s)| {
                            now.saturating_sub(s.last_used.load(Ordering::Relaxed)) >= idle.as_millis() as u64
                                || s.task.lock().map_or(true, |t| t.as_ref().is_none_or(JoinHandle::is_finished))
                        })
                        .map(|(id, _)| *id)
                        .collect()
                },
            );
            for id in expired {
                tracing::info!(
                    backend = self.cfg.name.get_ref().as_str(),
                    session = id,
                    "stopping an idle or ended session process"
                );
                self.close(id).await;
            }
        }
        self.shutdown().await;
    }

    /// Stops every session's process.
    pub async fn shutdown(&self) {
        let ids: Vec<u64> = self.map.lock().map_or_else(|_| Vec::new(), |m| m.keys().copied().collect());
        for id in ids {
            self.close(id).await;
        }
    }

    /// The pid of each session's process.
    pub fn pids(&self) -> Vec<u32> {
        self.map
            .lock()
            .map_or_else(|_| Vec::new(), |m| m.values().filter_map(|s| s.slot.current.load_full()?.pid).collect())
    }
}

/// A session id from `draw` that is not 0 (no session), fits a `usize` (the
/// ids of the process's server requests carry it as its slot) and is not
/// `in_use`. The check rules out a live session here; with a random
/// `draw`, naming a session of another replica, or one from before a
/// restart, is a one in 2^64 chance.
fn fresh_id(mut draw: impl FnMut() -> u64, in_use: impl Fn(u64) -> bool) -> u64 {
    loop {
        let id = draw();
        if id != 0 && usize::try_from(id).is_ok() && !in_use(id) {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fresh_id;

    #[test]
    fn a_fresh_id_is_never_0_nor_one_in_use() {
        let mut draws = [0, 7, 0, 9].into_iter();
        assert_eq!(fresh_id(|| draws.next().unwrap(), |id| id == 7), 9);
    }
}
