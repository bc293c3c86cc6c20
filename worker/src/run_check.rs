//! A worker's check of a run's fingerprint before it takes any of the run's jobs. The
//! coordinator announces what a worker must have loaded (salt key id, GeoIP databases, models,
//! code version); a worker whose own fingerprint differs leaves the run's queues alone, so the
//! jobs wait for a matching worker instead of mixing another salt or no GeoIP into the release.
//! It says so once per run in its log (component names and public descriptions only, never a
//! secret), in its metrics, and in a report in the queue backend that the coordinator's progress
//! line, `coordinator status` and the fleet endpoint read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use queue::{MismatchReport, Queue, RunAnnouncement};
use shared::fingerprint::{components_for_queue, ResourceFingerprint};
use tracing::{info, warn};

use crate::runner::RunnerObserver;

/// How often a worker repeats its report while it keeps leaving a run alone (reports older
/// than [`shared::fingerprint::MISMATCH_REPORT_TTL_MS`] stop counting).
const REPORT_EVERY: Duration = Duration::from_secs(20);

/// What the worker last decided about one run.
struct Seen {
    components: Vec<&'static str>,
    reported: Option<Instant>,
}

/// The fingerprint of this worker process and what it decided per run; shared by its job slots.
pub struct RunCheck {
    own: ResourceFingerprint,
    /// The process's name in reports (its slots share it).
    worker: String,
    seen: Mutex<BTreeMap<String, Seen>>,
}

impl std::fmt::Debug for RunCheck {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RunCheck")
            .field("worker", &self.worker)
            .field("salt_key_id", &self.own.salt_key_id)
            .finish_non_exhaustive()
    }
}

impl RunCheck {
    pub fn new(own: ResourceFingerprint, worker: String) -> RunCheck {
        RunCheck {
            own,
            worker,
            seen: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn fingerprint(&self) -> &ResourceFingerprint {
        &self.own
    }

    fn with_seen<T>(&self, work: impl FnOnce(&mut BTreeMap<String, Seen>) -> T) -> T {
        let mut guard = match self.seen.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        work(&mut guard)
    }

    /// Which of `served` (the run's queues this worker would serve) it may take jobs from: those
    /// whose jobs depend on no component in which this worker differs from the run
    /// ([`components_for_queue`]). A run announced without a fingerprint (by an older
    /// coordinator) is served whole. When a difference keeps it from a queue, the first call
    /// logs the components and tells `observer`; the report in the queue is refreshed every
    /// [`REPORT_EVERY`].
    pub async fn admitted_queues(
        &self,
        run: &RunAnnouncement,
        served: Vec<String>,
        queue: &dyn Queue,
        observer: Option<&Arc<dyn RunnerObserver>>,
    ) -> Vec<String> {
        let Some(wanted) = &run.fingerprint else {
            return served;
        };
        let differences = self.own.differences(wanted);
        let relevant: BTreeSet<&'static str> = served
            .iter()
            .flat_map(|name| components_for_queue(name).iter().copied())
            .collect();
        let components: Vec<&'static str> = differences
            .into_iter()
            .filter(|component| relevant.contains(component))
            .collect();
        let (admitted, skipped): (Vec<String>, Vec<String>) = served.into_iter().partition(|name| {
            components_for_queue(name)
                .iter()
                .all(|component| !components.contains(component))
        });
        let (changed, report_due) = self.with_seen(|seen| {
            let entry = seen.entry(run.run_id.clone()).or_insert(Seen {
                components: Vec::new(),
                reported: None,
            });
            let changed = entry.components != components;
            entry.components = components.clone();
            let due =
                !components.is_empty() && (changed || entry.reported.is_none_or(|at| at.elapsed() >= REPORT_EVERY));
            if due {
                entry.reported = Some(Instant::now());
            }
            (changed, due)
        });
        if changed {
            if components.is_empty() {
                info!(run = %run.run_id, worker = %self.worker, "the run's fingerprint matches this worker's: serving it");
            } else {
                let details: Vec<String> = components
                    .iter()
                    .map(|component| {
                        format!(
                            "{component}: run {}, this worker {}",
                            wanted.describe(component),
                            self.own.describe(component)
                        )
                    })
                    .collect();
                warn!(
                    run = %run.run_id,
                    worker = %self.worker,
                    components = %components.join(","),
                    details = %details.join("; "),
                    skipped_queues = %skipped.join(","),
                    "run fingerprint mismatch: leaving these queues' jobs to workers configured like the run's coordinator"
                );
            }
            if let Some(observer) = observer {
                observer.run_mismatch(&run.run_id, &components);
            }
        }
        if report_due {
            let report = MismatchReport {
                run_id: run.run_id.clone(),
                worker: self.worker.clone(),
                components: components.iter().map(|component| component.to_string()).collect(),
                updated_ms: unix_ms(),
            };
            // Best effort: the next refresh repeats it.
            if let Err(error) = queue.report_mismatch(&report).await {
                warn!(run = %run.run_id, error = %error, "cannot record the fingerprint mismatch in the queue");
                self.with_seen(|seen| {
                    if let Some(entry) = seen.get_mut(&run.run_id) {
                        entry.reported = None;
                    }
                });
            }
        }
        admitted
    }

    /// Forgets runs no longer announced, clearing their mismatch metrics.
    pub fn retain(&self, announced: &BTreeSet<String>, observer: Option<&Arc<dyn RunnerObserver>>) {
        let gone: Vec<String> = self.with_seen(|seen| {
            let gone: Vec<String> = seen.keys().filter(|run| !announced.contains(*run)).cloned().collect();
            for run in &gone {
                seen.remove(run);
            }
            gone
        });
        if let Some(observer) = observer {
            for run in gone {
                observer.run_mismatch(&run, &[]);
            }
        }
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}
