//! The directory source: `--endpoints-dir DIR`.
//!
//! `DIR` holds YAML files (`*.yaml`, `*.yml`, `*.json`) with Submariner
//! objects as `kubectl get -o yaml` prints them: one or more documents per
//! file, each an `Endpoint` or `Cluster` (`apiVersion: submariner.io/v1`), or
//! a `List` / `EndpointList` / `ClusterList` of them. Names starting with `.`
//! are ignored (editor swap files, and the `..data` links of a mounted
//! ConfigMap; the files themselves are followed through their symlinks).
//!
//! An Endpoint without `cable_name` gets Submariner's
//! (`submariner-cable-<cluster>-<private IP with dashes>`).
//!
//! The local Endpoint is one whose `cluster_id` is the local cluster id;
//! every other Endpoint is a remote gateway, keyed by its cluster id. `Cluster`
//! objects are matched to Endpoints by `spec.cluster_id` (or the object name
//! when that is empty). When several Endpoints claim one cluster, the rules
//! of [`super::objects`] choose (issue 13, fault 5): for a remote cluster
//! the newest (`metadata.creationTimestamp`, then `resourceVersion`, then
//! the file that sorts first); for the local cluster the newest of those
//! whose `spec.hostname` is this node's ([`DirSource::with_hostname`]), else
//! the newest. The others are reported; stale local Endpoints are only
//! reported, never removed (this source publishes nothing). When two
//! Clusters claim one id, the one in the file that sorts first wins.
//!
//! **Change detection** is by polling (every [`DEFAULT_POLL_INTERVAL`]): each
//! poll lists the directory, reads every candidate file and compares a hash of
//! its content with the previous poll's, so added, changed and removed files
//! are all seen, whatever their timestamps, including atomic renames and
//! ConfigMap symlink swaps. Polling was chosen over the `notify` crate because
//! inotify misses changes behind ConfigMap symlink swaps and on some
//! filesystems, it costs a dependency, and for a handful of small files a
//! read per second is negligible.
//!
//! **Problems are never fatal.** A file that is not valid YAML is reported
//! (a warning naming the file and why) and contributes the objects of its
//! last valid version, if any, so a file caught half-written does not tear
//! cables down. A document of an unknown kind, or an Endpoint or Cluster that
//! does not deserialise or validate, is reported and skipped on its own. Only
//! an unreadable directory at start is an error.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_norway::Value;

use super::objects::{
    assemble, cluster_object, describe, endpoint_object, keep_last_valid, LocalIdentity, Object,
};
use super::{DesiredState, EndpointSource, SourceError, SourceUpdate, SourceWarning, StateDiff};
use crate::crd::{Cluster, Endpoint, API_VERSION, KIND_CLUSTER, KIND_ENDPOINT};

/// How often the directory is looked at.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Files larger than this are reported and skipped.
const MAX_FILE_SIZE: u64 = 1 << 20;

/// What the last poll saw of one file.
#[derive(Debug)]
struct FileEntry {
    /// Hash of the content, or of the read error.
    fingerprint: u64,
    /// Objects of its last valid version.
    objects: Vec<Object>,
}

/// Every candidate file of a directory with its text (or why it cannot
/// be used), sorted by path.
pub type Snapshot = Vec<(PathBuf, Result<String, String>)>;

/// Reads a directory's candidate files (blocking file I/O).
pub type Reader = fn(&Path) -> Result<Snapshot, SourceError>;

/// The directory source.
#[derive(Debug)]
pub struct DirSource {
    dir: PathBuf,
    /// Runs on tokio's blocking pool in [`EndpointSource::next_update`]:
    /// a slow or hung file system (a network mount) never stalls the
    /// runtime's workers.
    read: Reader,
    local: LocalIdentity,
    poll_interval: Duration,
    files: BTreeMap<PathBuf, FileEntry>,
    state: DesiredState,
    started: bool,
    last_dir_error: Option<String>,
}

impl DirSource {
    /// A source reading `dir`, choosing the local Endpoint by `local_cluster_id`.
    pub fn new(dir: impl Into<PathBuf>, local_cluster_id: impl Into<String>) -> Self {
        DirSource {
            dir: dir.into(),
            read: read_snapshot,
            local: LocalIdentity::cluster(local_cluster_id),
            poll_interval: DEFAULT_POLL_INTERVAL,
            files: BTreeMap::new(),
            state: DesiredState::default(),
            started: false,
            last_dir_error: None,
        }
    }

    /// This node's hostname: among several Endpoints of the local cluster,
    /// those with this `spec.hostname` are preferred (an empty one is
    /// ignored).
    pub fn with_hostname(mut self, hostname: impl Into<String>) -> Self {
        let hostname = hostname.into();
        self.local.hostname = (!hostname.is_empty()).then_some(hostname);
        self
    }

    /// Changes the polling interval (tests use a short one).
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Replaces the file reader (tests: a slow file system).
    pub fn with_reader(mut self, read: Reader) -> Self {
        self.read = read;
        self
    }

    /// The desired state as of the last poll.
    pub fn state(&self) -> &DesiredState {
        &self.state
    }

    /// Looks at the directory once. Returns an update on the first successful
    /// call and whenever the desired state changed since the previous one.
    /// Warnings are logged and returned in the update (or dropped, when the
    /// state did not change, after being logged).
    pub fn poll(&mut self) -> Result<Option<SourceUpdate>, SourceError> {
        let snapshot = (self.read)(&self.dir)?;
        Ok(self.apply(snapshot))
    }

    /// Takes in what one read of the directory found (see [`DirSource::poll`]).
    fn apply(&mut self, snapshot: Snapshot) -> Option<SourceUpdate> {
        let mut warnings = Vec::new();
        let paths: Vec<PathBuf> = snapshot.iter().map(|(p, _)| p.clone()).collect();
        let mut any_file_changed = !self.started;

        // Forget removed files.
        let before = self.files.len();
        self.files.retain(|p, _| paths.contains(p));
        any_file_changed |= self.files.len() != before;

        for (path, content) in snapshot {
            let path = &path;
            let origin = path.display().to_string();
            let (fingerprint, content) = match content {
                Ok(text) => (hash_of(&text), Ok(text)),
                Err(why) => (hash_of(&why), Err(why)),
            };
            if self.files.get(path).map(|e| e.fingerprint) == Some(fingerprint) {
                continue;
            }
            any_file_changed = true;
            let previous = self.files.remove(path).map(|e| e.objects);
            let first_warning = warnings.len();
            let mut objects = match content {
                Err(why) => {
                    warnings.push(SourceWarning {
                        origin: origin.clone(),
                        message: format!("{why}; skipped"),
                    });
                    Vec::new()
                }
                Ok(text) => match parse_file(&origin, &text, &mut warnings) {
                    Some(objects) => objects,
                    None => previous.clone().unwrap_or_default(),
                },
            };
            // An object an edit made invalid keeps its last valid version
            // (as in the Kubernetes source): when the file has an invalid
            // object, its earlier objects that it no longer yields stay.
            // A file without errors is taken as it is (objects removed from
            // it go), and a removed file takes its objects with it.
            if warnings.len() > first_warning {
                for p in previous.iter().flatten() {
                    if !objects.iter().any(|x| x.key() == p.key()) {
                        if let Some(kept) = keep_last_valid(&origin, None, Some(p), &mut warnings) {
                            objects.push(kept);
                        }
                    }
                }
            }
            self.files.insert(
                path.clone(),
                FileEntry {
                    fingerprint,
                    objects,
                },
            );
        }

        if !any_file_changed {
            return None;
        }
        let state = self.assemble(&mut warnings);
        for w in &warnings {
            tracing::warn!(origin = %w.origin, "{}", w.message);
        }
        if self.started && state == self.state {
            return None;
        }
        let diff = StateDiff::between(&self.state, &state);
        self.state = state.clone();
        self.started = true;
        Some(SourceUpdate {
            state,
            diff,
            warnings,
        })
    }
}

/// Lists `dir` and reads every candidate file (blocking).
pub fn read_snapshot(dir: &Path) -> Result<Snapshot, SourceError> {
    Ok(list(dir)?
        .into_iter()
        .map(|p| {
            let text = read_candidate(&p);
            (p, text)
        })
        .collect())
}

/// Candidate files, sorted.
fn list(dir: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let dir_err = |e: std::io::Error| SourceError::Directory {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(dir_err)? {
        let entry = entry.map_err(dir_err)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let wanted = [".yaml", ".yml", ".json"]
            .iter()
            .any(|ext| name.len() > ext.len() && name.ends_with(ext));
        if !wanted {
            continue;
        }
        let path = entry.path();
        // Follow symlinks; skip directories and vanished entries.
        if std::fs::metadata(&path)
            .map(|m| m.is_file())
            .unwrap_or(false)
        {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

impl DirSource {
    /// Builds the desired state from every file's objects, in file order.
    fn assemble(&self, warnings: &mut Vec<SourceWarning>) -> DesiredState {
        let objects = self.files.values().flat_map(|e| e.objects.iter());
        assemble(objects, &self.local, warnings)
    }
}

fn hash_of(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// Reads a candidate file as text, or says why it cannot be used.
fn read_candidate(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() > MAX_FILE_SIZE {
        return Err(format!("larger than {MAX_FILE_SIZE} bytes"));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}

/// Parses every document of a file. `None` when the file is not valid YAML
/// (reported); otherwise the valid objects, with the others reported.
fn parse_file(origin: &str, text: &str, warnings: &mut Vec<SourceWarning>) -> Option<Vec<Object>> {
    let mut docs = Vec::new();
    for doc in serde_norway::Deserializer::from_str(text) {
        match Value::deserialize(doc) {
            Ok(v) => docs.push(v),
            Err(e) => {
                warnings.push(SourceWarning {
                    origin: origin.to_string(),
                    message: format!("not valid YAML ({e}); skipped"),
                });
                return None;
            }
        }
    }
    let many = docs.len() > 1;
    let mut objects = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        if doc.is_null() {
            continue;
        }
        let here = if many {
            format!("{origin} document {}", i + 1)
        } else {
            origin.to_string()
        };
        parse_object(&here, doc, None, &mut objects, warnings);
    }
    Some(objects)
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Parses one document (or list item); `implied_kind` is the kind a typed
/// list gives its items.
fn parse_object(
    origin: &str,
    value: Value,
    implied_kind: Option<&str>,
    out: &mut Vec<Object>,
    warnings: &mut Vec<SourceWarning>,
) {
    let warn = |warnings: &mut Vec<SourceWarning>, message: String| {
        warnings.push(SourceWarning {
            origin: origin.to_string(),
            message,
        })
    };
    if !value.is_mapping() {
        return warn(warnings, "not a Kubernetes object; skipped".into());
    }
    let kind = str_field(&value, "kind")
        .or(implied_kind)
        .unwrap_or_default()
        .to_string();
    if kind.is_empty() {
        return warn(warnings, "no kind; skipped".into());
    }
    if kind == "List" || kind == "EndpointList" || kind == "ClusterList" {
        let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
        let items = match value.get("items") {
            Some(Value::Sequence(items)) => items.clone(),
            Some(Value::Null) | None => Vec::new(),
            Some(_) => {
                return warn(
                    warnings,
                    format!("{kind} whose items are not a list; skipped"),
                )
            }
        };
        for (i, item) in items.into_iter().enumerate() {
            parse_object(
                &format!("{origin} item {}", i + 1),
                item,
                item_kind,
                out,
                warnings,
            );
        }
        return;
    }
    let api_version = str_field(&value, "apiVersion").unwrap_or(API_VERSION);
    if kind != KIND_ENDPOINT && kind != KIND_CLUSTER {
        return warn(warnings, format!("unknown kind {kind:?}; skipped"));
    }
    if api_version != API_VERSION {
        return warn(
            warnings,
            format!("{kind} of apiVersion {api_version:?}, not {API_VERSION:?}; skipped"),
        );
    }
    let name = value
        .get("metadata")
        .and_then(|m| str_field(m, "name"))
        .unwrap_or_default()
        .to_string();
    let what = describe(&kind, &name);
    let object = if kind == KIND_ENDPOINT {
        serde_norway::from_value::<Endpoint>(value)
            .map_err(|e| format!("invalid {what}: {e}; skipped"))
            .and_then(|ep| endpoint_object(origin, ep))
    } else {
        serde_norway::from_value::<Cluster>(value)
            .map_err(|e| format!("invalid {what}: {e}; skipped"))
            .and_then(|c| cluster_object(origin, c))
    };
    match object {
        Ok(o) => out.push(o),
        Err(message) => warn(warnings, message),
    }
}

impl EndpointSource for DirSource {
    fn name(&self) -> &'static str {
        "directory"
    }

    /// The first call polls at once (and fails if the directory cannot be
    /// read); later calls poll every interval until the state changes. A
    /// directory that becomes unreadable later is logged (once per distinct
    /// error) and the last state is kept.
    async fn next_update(&mut self) -> Result<SourceUpdate, SourceError> {
        loop {
            if self.started {
                tokio::time::sleep(self.poll_interval).await;
            }
            let (dir, read) = (self.dir.clone(), self.read);
            let snapshot = match tokio::task::spawn_blocking(move || read(&dir)).await {
                Ok(result) => result,
                Err(e) => Err(SourceError::Directory {
                    path: self.dir.clone(),
                    reason: format!("the reading task failed: {e}"),
                }),
            };
            match snapshot.map(|s| self.apply(s)) {
                Ok(Some(update)) => {
                    self.last_dir_error = None;
                    return Ok(update);
                }
                Ok(None) => self.last_dir_error = None,
                Err(e) if !self.started => return Err(e),
                Err(e) => {
                    let msg = e.to_string();
                    if self.last_dir_error.as_deref() != Some(msg.as_str()) {
                        tracing::warn!("{msg}; keeping the last known endpoints");
                        self.last_dir_error = Some(msg);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
