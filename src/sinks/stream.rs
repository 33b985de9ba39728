//! Streamed delivery: report rows in, complete objects out, while the rows are still coming.
//!
//! A [`ReportStream`] is one report file being written. Encoded rows ([`Chunk`]s) are
//! appended to the part being filled; when the next row would take the part over the object
//! size limit, the part is closed (the CSV header or the JSON document's `]}` around it, so
//! every part is a complete file) and handed to the [`Writers`]: a bounded queue and writer
//! threads that compute each part's SHA-256 and byte count for the manifest and `put` it to
//! its sink (a local folder writes it atomically, S3 uploads it, as a multipart upload when
//! it is large). The rows that follow go into the next part.
//!
//! Memory is therefore bounded by the limit, not by the report: each open stream holds at
//! most one part being filled, and the queue at most [`QUEUE`] parts plus one per writer
//! thread. The split is the one the reports always had: parts are cut between rows, a report
//! that fits is one object under its own key, a larger one is `_1`, `_2`, … (the key of the
//! first part is decided when the second one starts), and a single row larger than the limit
//! is a part of its own.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use super::{Sink, SinkError};
use crate::reports::encode::{Body, Chunk, Encoder, RenderError};
use crate::reports::key::part_key;
use crate::reports::template::Format;

/// Closed parts waiting for a writer thread.
pub const QUEUE: usize = 1;
/// Writer threads. One keeps up: a part's SHA-256 takes a small fraction of the time its
/// write and sync take, and an S3 upload sends a large part's pieces concurrently itself.
pub const WRITER_THREADS: usize = 1;

/// What a stream writes: the report file a plan delivers.
#[derive(Debug, Clone)]
pub struct FileInfo {
    pub plan: String,
    pub template: String,
    pub format: Format,
    /// The key of the whole report (parts get `_1`, `_2`, … before the extension).
    pub key: String,
}

/// One part as it was written.
#[derive(Debug, Clone)]
pub struct PartWritten {
    pub key: String,
    /// Where the sink put it (a path or `s3://…`).
    pub location: String,
    /// 1-based.
    pub part: usize,
    pub rows: usize,
    pub bytes: usize,
    /// Lower-case hex SHA-256 of the object.
    pub sha256: String,
}

/// A report file once its stream finished: its parts in order, each written or not.
#[derive(Debug)]
pub struct FileWritten {
    pub info: FileInfo,
    pub parts: Vec<Result<PartWritten, SinkError>>,
}

struct Job {
    stream: usize,
    part: usize,
    sink: Arc<dyn Sink>,
    key: String,
    content_type: &'static str,
    body: Vec<u8>,
    rows: usize,
}

/// The writer threads and their queue, shared by every stream of a run.
pub struct Writers<'f> {
    queue: SyncSender<Job>,
    files: &'f Mutex<Vec<FileWritten>>,
}

/// Runs `work` with writer threads ready for its streams; returns what `work` returned and
/// every file its streams wrote, in the order the streams were opened, once the last part is
/// written.
pub fn with_writers<R>(work: impl FnOnce(&Writers<'_>) -> R) -> (R, Vec<FileWritten>) {
    let (queue, jobs) = sync_channel::<Job>(QUEUE);
    let files = Mutex::new(Vec::new());
    let jobs = Mutex::new(jobs);
    let done: Mutex<Vec<(usize, PartWritten)>> = Mutex::new(Vec::new());
    let failed: Mutex<Vec<(usize, usize, SinkError)>> = Mutex::new(Vec::new());
    let out = std::thread::scope(|scope| {
        for _ in 0..WRITER_THREADS {
            scope.spawn(|| write_parts(&jobs, &done, &failed));
        }
        let writers = Writers { queue, files: &files };
        // Dropping `writers` (and its end of the queue) ends the writer threads once the
        // queue is empty; the scope waits for them.
        work(&writers)
    });
    let mut files = files.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut results: Vec<(usize, usize, Result<PartWritten, SinkError>)> = Vec::new();
    results.extend(done.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter().map(|(s, p)| (s, p.part, Ok(p))));
    results.extend(failed.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter().map(|(s, n, e)| (s, n, Err(e))));
    results.sort_by_key(|(s, n, _)| (*s, *n));
    for (s, _, r) in results {
        files[s].parts.push(r);
    }
    (out, files)
}

fn write_parts(
    jobs: &Mutex<Receiver<Job>>,
    done: &Mutex<Vec<(usize, PartWritten)>>,
    failed: &Mutex<Vec<(usize, usize, SinkError)>>,
) {
    loop {
        let job = match jobs.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        let body = Body { slices: vec![&job.body], rows: job.rows };
        let sha256 = body.sha256();
        match job.sink.put(&job.key, &body, job.content_type) {
            Ok(()) => done.lock().unwrap_or_else(|e| e.into_inner()).push((
                job.stream,
                PartWritten {
                    location: job.sink.location(&job.key),
                    key: job.key,
                    part: job.part,
                    rows: job.rows,
                    bytes: job.body.len(),
                    sha256,
                },
            )),
            Err(e) => failed.lock().unwrap_or_else(|e| e.into_inner()).push((job.stream, job.part, e)),
        }
    }
}

impl Writers<'_> {
    /// Opens a stream for `info` into `sink`, writing what `encoder` encodes, in parts of at
    /// most `max_bytes` (`usize::MAX`: one object, never split).
    pub fn open(
        &self,
        info: FileInfo,
        sink: Arc<dyn Sink>,
        encoder: &Encoder<'_>,
        max_bytes: usize,
    ) -> Result<ReportStream<'_>, RenderError> {
        let head = encoder.head()?;
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let id = files.len();
        files.push(FileWritten { info: info.clone(), parts: Vec::new() });
        Ok(ReportStream {
            writers: self,
            id,
            sink,
            key: info.key,
            content_type: super::content_type(info.format.extension()),
            buf: part_buffer(&head, max_bytes),
            head,
            tail: encoder.tail(),
            joiner: encoder.joiner(),
            max_bytes,
            rows: 0,
            parts: 0,
        })
    }
}

/// A new part: the head, with room for a whole part (up to 64 MiB; a larger limit grows it),
/// so that filling it does not copy it again and again.
fn part_buffer(head: &[u8], max_bytes: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(max_bytes.min(64 << 20).saturating_add(64));
    buf.extend_from_slice(head);
    buf
}

/// One report file being written (see the module docs).
pub struct ReportStream<'w> {
    writers: &'w Writers<'w>,
    id: usize,
    sink: Arc<dyn Sink>,
    key: String,
    content_type: &'static str,
    head: Vec<u8>,
    tail: Vec<u8>,
    joiner: &'static [u8],
    max_bytes: usize,
    /// The part being filled: the head, then its rows.
    buf: Vec<u8>,
    rows: usize,
    /// Parts closed so far.
    parts: usize,
}

impl ReportStream<'_> {
    /// Appends the rows of `chunk`, closing parts as they fill.
    pub fn push(&mut self, chunk: &Chunk) {
        if chunk.ends.is_empty() {
            return;
        }
        let sep = if self.rows > 0 { self.joiner.len() } else { 0 };
        // Most chunks fit whole: one copy.
        if self.buf.len() + sep + chunk.bytes.len() + self.tail.len() <= self.max_bytes {
            self.buf.extend_from_slice(&self.joiner[..sep]);
            self.buf.extend_from_slice(&chunk.bytes);
            self.rows += chunk.ends.len();
            return;
        }
        let mut start = 0;
        for &end in &chunk.ends {
            let row = &chunk.bytes[start..end as usize];
            start = end as usize + self.joiner.len();
            let sep = if self.rows > 0 { self.joiner.len() } else { 0 };
            if self.rows > 0 && self.buf.len() + sep + row.len() + self.tail.len() > self.max_bytes {
                self.close(false);
            }
            if self.rows > 0 {
                self.buf.extend_from_slice(self.joiner);
            }
            self.buf.extend_from_slice(row);
            self.rows += 1;
        }
    }

    /// Closes the last part (an empty report is one part: the head and the tail) and says how
    /// many parts the report has.
    pub fn finish(mut self) -> usize {
        self.close(true);
        self.parts
    }

    fn close(&mut self, last: bool) {
        self.parts += 1;
        let key = if last && self.parts == 1 { self.key.clone() } else { part_key(&self.key, self.parts) };
        let mut body = std::mem::replace(&mut self.buf, part_buffer(&self.head, self.max_bytes));
        body.extend_from_slice(&self.tail);
        let job = Job {
            stream: self.id,
            part: self.parts,
            sink: self.sink.clone(),
            key,
            content_type: self.content_type,
            body,
            rows: std::mem::take(&mut self.rows),
        };
        // The writer threads outlive every stream (see `with_writers`): the queue is open.
        let _ = self.writers.queue.send(job);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::encode::{EncodeOptions, FrameRows, Rows};
    use crate::reports::template::Template;
    use polars::prelude::*;

    /// Objects by key, in memory: the splitting is what is under test here; the folder and
    /// S3 sinks have their own tests.
    #[derive(Default)]
    struct Memory(Mutex<std::collections::BTreeMap<String, Vec<u8>>>);

    impl Sink for Memory {
        fn put(&self, key: &str, body: &Body<'_>, _content_type: &str) -> Result<(), SinkError> {
            self.0.lock().unwrap().insert(key.to_string(), body.to_vec());
            Ok(())
        }
        fn location(&self, key: &str) -> String {
            key.to_string()
        }
        fn root(&self) -> String {
            String::new()
        }
    }

    fn template() -> Template {
        Template::parse(
            "T",
            "name = 'T'\nkind = 'job'\nframe = 'f'\ndescription = 'd'\n[[columns]]\nkey = 'a'\nheader = 'A'\nsource = 'a'\ntype = 'string'\n[[columns]]\nkey = 'n'\nheader = 'N'\nsource = 'n'\ntype = 'integer'\n",
        )
        .unwrap()
    }

    /// Streams the rows of `df` one chunk per row (the worst case for the splitter) with the
    /// limit `max`; returns the objects by key and the part count.
    fn stream(df: &DataFrame, format: Format, max: usize) -> (Vec<(String, String)>, usize, Vec<usize>) {
        let t = template();
        let rows = FrameRows::new(df, &t, format, (0, 0)).unwrap();
        let encoder = Encoder::new(&t, format, EncodeOptions::default());
        let sink = Arc::new(Memory::default());
        let info =
            FileInfo { plan: "p".into(), template: "T".into(), format, key: format!("r.{}", format.extension()) };
        let (parts, files) = with_writers(|w| {
            let mut s = w.open(info, sink.clone(), &encoder, max).unwrap();
            for i in 0..rows.len() {
                s.push(&encoder.chunk(&rows, i..i + 1).unwrap());
            }
            s.finish()
        });
        let rows_per_part = files[0].parts.iter().map(|p| p.as_ref().unwrap().rows).collect();
        let objects =
            sink.0.lock().unwrap().iter().map(|(k, v)| (k.clone(), String::from_utf8(v.clone()).unwrap())).collect();
        (objects, parts, rows_per_part)
    }

    #[test]
    fn parts_are_cut_between_rows_and_each_is_a_whole_file() {
        let df = df!("a" => ["r1", "row-two-is-longer", "r3"], "n" => [1i64, 2, 3]).unwrap();
        for format in [Format::Csv, Format::Json] {
            let whole = crate::reports::encode::render(&df, &template(), format, (0, 0), EncodeOptions::default())
                .unwrap()
                .to_vec();
            let ext = format.extension();
            // A report that fits is one object under its own key, byte for byte the whole report.
            let (objects, parts, _) = stream(&df, format, whole.len());
            assert_eq!((parts, objects.len()), (1, 1));
            assert_eq!(objects[0], (format!("r.{ext}"), String::from_utf8(whole.clone()).unwrap()));
            // A limit smaller than any row: one row per part, each part a whole document.
            let (objects, parts, rows) = stream(&df, format, 1);
            assert_eq!((parts, rows), (3, vec![1, 1, 1]), "{format:?}");
            let keys: Vec<&str> = objects.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, [format!("r_1.{ext}"), format!("r_2.{ext}"), format!("r_3.{ext}")]);
            match format {
                Format::Csv => {
                    assert!(objects.iter().all(|(_, t)| t.starts_with("\"A\",\"N\"\r\n")), "{objects:?}");
                    assert_eq!(objects[1].1, "\"A\",\"N\"\r\n\"row-two-is-longer\",\"2\"\r\n");
                }
                Format::Json => assert_eq!(objects[2].1, "{\"reportItems\":[{\"a\":\"r3\",\"n\":3}]}\n"),
            }
            // Two rows fit exactly; the third goes on.
            let one = |i: usize| objects[i].1.len();
            let head_tail = match format {
                Format::Csv => "\"A\",\"N\"\r\n".len(),
                Format::Json => "{\"reportItems\":[]}\n".len(),
            };
            let limit = one(0) + one(1) - head_tail + if format == Format::Json { 1 } else { 0 };
            let (objects, _, rows) = stream(&df, format, limit);
            assert_eq!(rows, vec![2, 1], "{format:?}");
            assert!(objects.iter().all(|(_, t)| t.len() <= limit));
        }
        let (objects, parts, _) = stream(&df.head(Some(0)), Format::Json, 1);
        assert_eq!((parts, objects), (1, vec![("r.json".to_string(), "{\"reportItems\":[]}\n".to_string())]));
    }
}
