//! `export --with-custom-fields`: one column per custom field, read per contact.
//!
//! List items carry no custom values (§9.1 of the API notes), so each contact costs one
//! `GET /v1/contact?contact_id=` through the run's pacer; the cost (requests, and time at the
//! rate) is printed before the first one. That the retrieve shows `custom_fields` is an
//! inference (the docs cut the response; the sandbox shows them): a contact answered without
//! them gets empty cells and the run says how many. The columns are named after the fields, so
//! `import` binds them back by name and the round trip carries the values.
//!
//! Resumable: every contact read is appended (and flushed) to `<output>.custom-fields.jsonl`,
//! a private file beside the output, headed with the account's fingerprint and the field ids.
//! A run that stops (Ctrl-C, a dead API, kill -9) leaves it; the next export to the same
//! output with the same account and fields reads those contacts from it instead of the API,
//! and a completed export deletes it. Called by [`super::writer`] for each batch of the walk.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::api::client::Client;
use crate::api::paging::call_fatal;
use crate::api::reply::Body;
use crate::api::{Contact, CustomField};
use crate::exit::Fatal;
use crate::ui::Ui;

/// The cache's first line: whose contacts and which fields it holds.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct CacheHeader {
    account: String,
    fields: Vec<u64>,
}

/// One contact read: its values by field id (`None`: the answer showed no custom values).
#[derive(Debug, Serialize, Deserialize)]
struct CacheLine {
    id: u64,
    values: Option<Vec<(u64, String)>>,
}

/// The custom columns of an export and the values read so far.
pub struct CustomColumns {
    pub fields: Vec<CustomField>,
    client: Arc<Client>,
    window: usize,
    /// Contact id -> values by field id, for contacts read but not yet written (and those of
    /// the cache of an interrupted run).
    values: HashMap<u64, Option<Vec<(u64, String)>>>,
    cache: Option<(PathBuf, File)>,
    pub stats: CustomStats,
}

/// What reading the values cost, for the summary line.
#[derive(Debug, Default, Clone, Copy)]
pub struct CustomStats {
    /// Contacts read with one request each.
    pub read: u64,
    /// Contacts taken from the cache of an earlier, interrupted run.
    pub cached: u64,
    /// Contacts whose retrieve showed no `custom_fields` at all.
    pub without: u64,
    /// Contacts gone (404) between the list and their retrieve.
    pub gone: u64,
}

impl CustomColumns {
    /// `GET /v1/custom-fields`, then the cache of an interrupted run to the same `target`.
    pub async fn prepare(
        client: &Arc<Client>,
        target: Option<&Path>,
        account: &str,
        window: usize,
    ) -> Result<CustomColumns, Fatal> {
        let reply = client.custom_fields().await.map_err(call_fatal)?;
        let status = reply.status;
        let fields = match reply.body {
            Body::Data(fields) if (200..300).contains(&status) => fields,
            Body::Error(e) => {
                return Err(Fatal::usage(format!(
                    "GET /v1/custom-fields answered {status}: {} {}",
                    e.code, e.message
                )));
            }
            Body::Data(_) => {
                return Err(Fatal::usage(format!(
                    "GET /v1/custom-fields answered {status}"
                )));
            }
            Body::Unreadable(why) => {
                return Err(Fatal::unavailable(format!(
                    "GET /v1/custom-fields answered {status} with {why}"
                )));
            }
        };
        let header = CacheHeader {
            account: account.to_string(),
            fields: fields.iter().map(|f| f.id).collect(),
        };
        let (values, cache) = match target {
            Some(target) => open_cache(&cache_path(target), &header)
                .map_err(|e| Fatal::usage(format!("{}: {e}", cache_path(target).display())))?,
            None => (HashMap::new(), None),
        };
        Ok(CustomColumns {
            fields,
            client: Arc::clone(client),
            window,
            values,
            cache,
            stats: CustomStats::default(),
        })
    }

    /// The column names: the fields' names, which import binds back by name.
    pub fn headers(&self) -> Vec<String> {
        self.fields.iter().map(|f| f.name.clone()).collect()
    }

    /// One line before the first request: what the per-contact reads will cost.
    pub fn announce(&self, ui: &Ui, total: Option<u64>, per_second: Option<f64>) {
        let names: Vec<&str> = self.fields.iter().map(|f| f.name.as_str()).collect();
        let cached = self.values.len() as u64;
        let cost = match (total, per_second) {
            (Some(n), Some(r)) => {
                let requests = n.saturating_sub(cached);
                format!(
                    "{requests} requests (one GET /v1/contact per contact), about {} at {r}/s",
                    crate::ui::human_duration(std::time::Duration::from_secs_f64(
                        requests as f64 / r
                    ))
                )
            }
            (Some(n), None) => format!(
                "{} requests (one GET /v1/contact per contact)",
                n.saturating_sub(cached)
            ),
            (None, _) => "one GET /v1/contact per contact".into(),
        };
        let resumed = if cached > 0 {
            format!("; {cached} contacts read by an interrupted run are taken from its cache")
        } else {
            String::new()
        };
        ui.info(&format!(
            "custom fields: {} column{} ({}); cost: {cost}{resumed}",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            crate::text::sanitize(&names.join(", "), 200)
        ));
    }

    /// Reads the values of the batch's contacts not read yet, `window` at a time, each
    /// appended to the cache as it arrives.
    pub async fn fill(&mut self, batch: &[Contact]) -> Result<(), Fatal> {
        let missing: Vec<u64> = batch
            .iter()
            .map(|c| c.id)
            .filter(|id| !self.values.contains_key(id))
            .collect();
        self.stats.cached += (batch.len() - missing.len()) as u64;
        let client = Arc::clone(&self.client);
        let mut reads = futures::stream::iter(missing)
            .map(|id| {
                let client = Arc::clone(&client);
                async move { (id, client.contact_detail(id).await) }
            })
            .buffer_unordered(self.window.max(1));
        while let Some((id, reply)) = reads.next().await {
            let reply = reply.map_err(call_fatal)?;
            let values = match reply.body {
                Body::Data(detail) if reply.status < 300 => detail.custom_fields.map(|found| {
                    found
                        .into_iter()
                        .filter_map(|v| {
                            let field = self.fields.iter().find(|f| {
                                v.id == Some(f.id)
                                    || (v.id.is_none() && v.name.as_ref() == Some(&f.name))
                            })?;
                            Some((field.id, v.value?))
                        })
                        .collect()
                }),
                Body::Error(_) if reply.status == 404 => {
                    self.stats.gone += 1;
                    Some(Vec::new())
                }
                Body::Error(e) => {
                    return Err(Fatal::after_send(format!(
                        "GET /v1/contact?contact_id={id} answered {}: {} {}",
                        reply.status, e.code, e.message
                    )));
                }
                _ => {
                    return Err(Fatal::unavailable(format!(
                        "GET /v1/contact?contact_id={id} answered {}",
                        reply.describe()
                    )));
                }
            };
            self.stats.read += 1;
            if values.is_none() {
                self.stats.without += 1;
            }
            self.remember(id, values)?;
        }
        Ok(())
    }

    fn remember(&mut self, id: u64, values: Option<Vec<(u64, String)>>) -> Result<(), Fatal> {
        if let Some((path, file)) = &mut self.cache {
            let line = CacheLine {
                id,
                values: values.clone(),
            };
            let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
            bytes.push(b'\n');
            file.write_all(&bytes)
                .map_err(|e| Fatal::after_send(format!("{}: {e}", path.display())))?;
        }
        self.values.insert(id, values);
        Ok(())
    }

    /// The contact's cells, in field order; the values are dropped once written.
    pub fn take_cells(&mut self, id: u64) -> Vec<String> {
        let values = self.values.remove(&id).flatten().unwrap_or_default();
        self.fields
            .iter()
            .map(|f| {
                values
                    .iter()
                    .find(|(fid, _)| *fid == f.id)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// The export is complete: its cache is no longer needed.
    pub fn finish(self, ui: &Ui) {
        if let Some((path, file)) = self.cache {
            drop(file);
            let _ = std::fs::remove_file(&path);
        }
        let s = self.stats;
        let mut line = format!("custom fields: {} contacts read", s.read);
        if s.cached > 0 {
            line.push_str(&format!(
                ", {} from the cache of an interrupted run",
                s.cached
            ));
        }
        if s.gone > 0 {
            line.push_str(&format!(
                ", {} deleted before their read (cells empty)",
                s.gone
            ));
        }
        if s.without > 0 {
            line.push_str(&format!(
                "; {} answers showed no custom_fields (cells empty): this API may not show \
                 custom values in GET /v1/contact",
                s.without
            ));
        }
        ui.info(&line);
    }
}

/// `<output>.custom-fields.jsonl`, beside the output.
pub fn cache_path(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".custom-fields.jsonl");
    PathBuf::from(name)
}

/// The values an interrupted run read (when its header matches), and the cache opened for
/// appending; a cache of another account or other fields is started afresh. A torn last line
/// (a kill mid-write) is dropped: that contact is read again.
type Loaded = (
    HashMap<u64, Option<Vec<(u64, String)>>>,
    Option<(PathBuf, File)>,
);

fn open_cache(path: &Path, header: &CacheHeader) -> io::Result<Loaded> {
    let mut values = HashMap::new();
    let mut valid_len = 0u64;
    if let Ok(file) = File::open(path) {
        let mut reader = BufReader::new(file);
        let mut line = String::new();
        let mut first = true;
        while reader.read_line(&mut line)? > 0 {
            if !line.ends_with('\n') {
                break;
            }
            if first {
                if serde_json::from_str::<CacheHeader>(&line).ok().as_ref() != Some(header) {
                    break;
                }
                first = false;
            } else {
                let Ok(entry) = serde_json::from_str::<CacheLine>(&line) else {
                    break;
                };
                values.insert(entry.id, entry.values);
            }
            valid_len += line.len() as u64;
            line.clear();
        }
    }
    let mut file = crate::files::private_options()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)?;
    file.set_len(valid_len)?;
    use std::io::Seek;
    file.seek(io::SeekFrom::End(0))?;
    if valid_len == 0 {
        values.clear();
        let mut bytes = serde_json::to_vec(header).unwrap_or_default();
        bytes.push(b'\n');
        file.write_all(&bytes)?;
    }
    Ok((values, Some((path.to_path_buf(), file))))
}
