//! Streamed delivery: report rows in, complete objects out, while the rows are still coming.
//!
//! A [`ReportStream`] is one report file being written. Encoded rows ([`Chunk`]s) go to the
//! part being filled; when the next row would take the part over the object size limit, the
//! part is closed (with the CSV header, or the JSON document's head and `]}`, so every part is
//! a complete file) and the rows that follow start the next one. The split is the one the
//! reports always had: parts are cut between rows, a report that fits is one object under its
//! own key, a larger one is `_1`, `_2`, … (a part's key is decided when it closes: the first
//! one's when the second starts, or when the report ends), and a row larger than the limit is
//! a part of its own.
//!
//! The bytes go, a few MiB at a time, through a bounded queue to a writer thread (a stream
//! always to the same one, so its bytes stay in order), which computes each part's SHA-256 and
//! size for the manifest as they pass and writes them: into a temporary file in the report's
//! folder that is synced and renamed into place when the part closes (a local folder), or into
//! a buffer uploaded when it closes (S3, as a multipart upload when it is large). Memory is
//! bounded by the queues, not by the reports: [`WRITER_THREADS`] × [`QUEUE`] × [`FLUSH_BYTES`],
//! plus, for S3 only, one part per open stream.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use sha2::Digest;

use super::{ObjectWriter, Sink, SinkError};
use crate::reports::encode::{Body, Chunk, Encoder, RenderError};
use crate::reports::key::part_key;
use crate::reports::template::Format;

/// Messages waiting for each writer thread.
pub const QUEUE: usize = 4;
/// Writer threads: two, so that one part's sync does not hold up the other format's writes.
pub const WRITER_THREADS: usize = 2;
/// Bytes a stream gathers before they go to its writer.
pub const FLUSH_BYTES: usize = 4 << 20;

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

enum Msg {
    /// A new stream: where its parts go.
    Open { stream: usize, sink: Arc<dyn Sink>, key: String, content_type: &'static str },
    /// The next bytes of the stream's current part.
    Bytes { stream: usize, bytes: Vec<u8> },
    /// The current part is complete: store it under `key`.
    Close { stream: usize, part: usize, key: String, rows: usize },
}

/// The writer threads and their queues, shared by every stream of a run.
pub struct Writers<'f> {
    queues: Vec<SyncSender<Msg>>,
    files: &'f Mutex<Vec<FileWritten>>,
}

type Results = Mutex<Vec<(usize, usize, Result<PartWritten, SinkError>)>>;

/// Runs `work` with writer threads ready for its streams; returns what `work` returned and
/// every file its streams wrote, in the order the streams were opened, once the last part is
/// written.
pub fn with_writers<R>(work: impl FnOnce(&Writers<'_>) -> R) -> (R, Vec<FileWritten>) {
    let files = Mutex::new(Vec::new());
    let results: Results = Mutex::new(Vec::new());
    let out = std::thread::scope(|scope| {
        let mut queues = Vec::new();
        for _ in 0..WRITER_THREADS {
            let (queue, messages) = sync_channel::<Msg>(QUEUE);
            queues.push(queue);
            let results = &results;
            scope.spawn(move || write_parts(messages, results));
        }
        let writers = Writers { queues, files: &files };
        // Dropping `writers` (and its ends of the queues) ends the writer threads once their
        // queues are empty; the scope waits for them.
        work(&writers)
    });
    let mut files = files.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(s, n, _)| (*s, *n));
    for (s, _, r) in results {
        files[s].parts.push(r);
    }
    (out, files)
}

/// Where a part's bytes go while it is open.
enum Out {
    /// A sink that writes piece by piece (a local folder).
    Direct(Box<dyn ObjectWriter>),
    /// A sink that stores whole bodies (S3).
    Buffer(Vec<u8>),
    /// Writing failed; the part is not stored (what was written is gone with the writer).
    Failed(SinkError),
}

struct Part {
    out: Out,
    hash: sha2::Sha256,
    bytes: usize,
}

struct Open {
    sink: Arc<dyn Sink>,
    key: String,
    content_type: &'static str,
    part: Option<Part>,
}

impl Open {
    fn part(&mut self) -> &mut Part {
        self.part.get_or_insert_with(|| Part {
            out: match self.sink.writer(&self.key) {
                Some(Ok(w)) => Out::Direct(w),
                Some(Err(e)) => Out::Failed(e),
                None => Out::Buffer(Vec::new()),
            },
            hash: sha2::Sha256::new(),
            bytes: 0,
        })
    }
}

fn write_parts(messages: Receiver<Msg>, results: &Results) {
    let mut open: HashMap<usize, Open> = HashMap::new();
    for msg in messages {
        match msg {
            Msg::Open { stream, sink, key, content_type } => {
                open.insert(stream, Open { sink, key, content_type, part: None });
            }
            Msg::Bytes { stream, bytes } => {
                let Some(o) = open.get_mut(&stream) else { continue };
                let part = o.part();
                part.hash.update(&bytes);
                part.bytes += bytes.len();
                match &mut part.out {
                    Out::Direct(w) => {
                        if let Err(e) = w.write(&bytes) {
                            part.out = Out::Failed(e);
                        }
                    }
                    Out::Buffer(b) => b.extend_from_slice(&bytes),
                    Out::Failed(_) => {}
                }
            }
            Msg::Close { stream, part: n, key, rows } => {
                let Some(o) = open.get_mut(&stream) else { continue };
                o.part();
                let part = o.part.take().expect("opened above");
                let stored = match part.out {
                    Out::Direct(w) => w.commit(&key),
                    Out::Buffer(b) => o.sink.put(&key, &Body { slices: vec![&b], rows }, o.content_type),
                    Out::Failed(e) => Err(e),
                };
                let written = stored.map(|()| PartWritten {
                    location: o.sink.location(&key),
                    key,
                    part: n,
                    rows,
                    bytes: part.bytes,
                    sha256: hex::encode(part.hash.finalize()),
                });
                results.lock().unwrap_or_else(|e| e.into_inner()).push((stream, n, written));
            }
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
        let queue = &self.queues[id % self.queues.len()];
        let content_type = super::content_type(info.format.extension());
        // The writer threads outlive every stream (see `with_writers`): the queue is open.
        let _ = queue.send(Msg::Open { stream: id, sink, key: info.key.clone(), content_type });
        Ok(ReportStream {
            queue,
            id,
            key: info.key,
            pending: Vec::new(),
            size: 0,
            tail: encoder.tail(),
            joiner: encoder.joiner(),
            max_bytes,
            rows: 0,
            parts: 0,
            head,
        }
        .started())
    }
}

/// One report file being written (see the module docs).
pub struct ReportStream<'w> {
    queue: &'w SyncSender<Msg>,
    id: usize,
    key: String,
    head: Vec<u8>,
    tail: Vec<u8>,
    joiner: &'static [u8],
    max_bytes: usize,
    /// Bytes not yet sent to the writer.
    pending: Vec<u8>,
    /// Bytes of the part being filled, the head included.
    size: usize,
    /// Rows of the part being filled.
    rows: usize,
    /// Parts closed so far.
    parts: usize,
}

impl ReportStream<'_> {
    fn started(mut self) -> Self {
        self.begin_part();
        self
    }

    /// Starts a part: its head goes first (nothing is pending).
    fn begin_part(&mut self) {
        self.pending.extend_from_slice(&self.head);
        self.size = self.head.len();
    }

    fn append(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        self.size += bytes.len();
        if self.pending.len() >= FLUSH_BYTES {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() {
            let bytes = std::mem::take(&mut self.pending);
            let _ = self.queue.send(Msg::Bytes { stream: self.id, bytes });
        }
    }

    /// Appends the rows of `chunk`, closing parts as they fill.
    pub fn push(&mut self, chunk: &Chunk) {
        if chunk.ends.is_empty() {
            return;
        }
        let sep = if self.rows > 0 { self.joiner } else { b"" };
        // Most chunks fit whole: one copy.
        if self.size + sep.len() + chunk.bytes.len() + self.tail.len() <= self.max_bytes {
            self.append(sep);
            self.append(&chunk.bytes);
            self.rows += chunk.ends.len();
            return;
        }
        let mut start = 0;
        for &end in &chunk.ends {
            let row = &chunk.bytes[start..end as usize];
            start = end as usize + self.joiner.len();
            if self.rows > 0 && self.size + self.joiner.len() + row.len() + self.tail.len() > self.max_bytes {
                self.close(false);
            }
            if self.rows > 0 {
                self.append(self.joiner);
            }
            self.append(row);
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
        self.pending.extend_from_slice(&self.tail);
        self.flush();
        let rows = std::mem::take(&mut self.rows);
        let _ = self.queue.send(Msg::Close { stream: self.id, part: self.parts, key, rows });
        if !last {
            self.begin_part();
        }
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
    /// limit `max`, to memory and to a local folder (which writes piece by piece); returns the
    /// objects by key, the part count and the rows per part, after checking that both sinks
    /// got the same objects.
    fn stream(df: &DataFrame, format: Format, max: usize) -> (Vec<(String, String)>, usize, Vec<usize>) {
        let dir = tempfile::tempdir().unwrap();
        let (local_parts, local_rows) = stream_to(df, format, max, Arc::new(super::super::LocalDir::new(dir.path())));
        let memory = Arc::new(Memory::default());
        let (parts, rows) = stream_to(df, format, max, memory.clone());
        let objects: Vec<(String, String)> =
            memory.0.lock().unwrap().iter().map(|(k, v)| (k.clone(), String::from_utf8(v.clone()).unwrap())).collect();
        let mut on_disk: Vec<(String, String)> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| (e.file_name().into_string().unwrap(), std::fs::read_to_string(e.path()).unwrap()))
            .collect();
        on_disk.sort();
        assert_eq!((on_disk, local_parts, local_rows), (objects.clone(), parts, rows.clone()), "{format:?}, {max}");
        (objects, parts, rows)
    }

    /// Streams to one sink; returns the part count and the rows per part.
    fn stream_to(df: &DataFrame, format: Format, max: usize, sink: Arc<dyn Sink>) -> (usize, Vec<usize>) {
        let t = template();
        let rows = FrameRows::new(df, &t, format, (0, 0)).unwrap();
        let encoder = Encoder::new(&t, format, EncodeOptions::default());
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
        (parts, rows_per_part)
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
